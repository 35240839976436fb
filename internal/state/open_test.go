package state_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/state"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		url     string
		wantErr string // empty: no error
	}{
		"memory":                 {url: "memory"},
		"file absolute":          {url: "file:/var/lib/maintpage/state.json"},
		"file relative":          {url: "file:state.json"},
		"file URL":               {url: "file:///var/lib/maintpage/state.json"},
		"file with space":        {url: "file:my state.json"},
		"redis":                  {url: "redis://127.0.0.1:6379/0"},
		"redis no db":            {url: "redis://127.0.0.1:6379"},
		"redis with key":         {url: "redis://127.0.0.1:6379/2?key=maintpage:myapp"},
		"redis with password":    {url: "redis://user:secret@127.0.0.1:6379/0"},
		"redis own timeout":      {url: "redis://127.0.0.1:6379/0?dial_timeout=1s&key=k"},
		"rediss":                 {url: "rediss://redis.example.com:6380/0"},
		"upper-case scheme":      {url: "REDIS://127.0.0.1:6379/0"},
		"sentinel":               {url: "redis+sentinel://127.0.0.1:26379/mymaster"},
		"sentinels, db, key":     {url: "redis+sentinel://u:secret@10.0.0.1:26379,10.0.0.2:26379,[::1]:26380/mymaster/2?key=k&dial_timeout=1s"},
		"sentinel auth":          {url: "redis+sentinel://h:26379/m?sentinel_password=secret"},
		"sentinel TLS":           {url: "rediss+sentinel://redis.example.com:26379/m/0"},
		"sentinel no master":     {url: "redis+sentinel://h:26379/", wantErr: "/MASTER or /MASTER/DB"},
		"sentinel deep path":     {url: "redis+sentinel://h:26379/m/0/1", wantErr: "/MASTER or /MASTER/DB"},
		"sentinel no port":       {url: "redis+sentinel://h1:26379,h2/m", wantErr: `sentinel address "h2" is not host:port`},
		"sentinel bad db":        {url: "redis+sentinel://u:secret@h:26379/m/zero", wantErr: "invalid database number"},
		"sentinel unknown opt":   {url: "redis+sentinel://u:secret@h:26379/m?color=blue", wantErr: "unexpected option: color"},
		"sentinel empty key":     {url: "redis+sentinel://h:26379/m?key=&sentinel_password=secret", wantErr: "key must be given once"},
		"empty":                  {url: "", wantErr: "empty"},
		"unknown kind":           {url: "etcd://127.0.0.1:2379", wantErr: `unknown kind "etcd"`},
		"bare word":              {url: "redis", wantErr: "invalid state store"},
		"memory with suffix":     {url: "memory://x", wantErr: "takes nothing after it"},
		"file empty path":        {url: "file:", wantErr: "file path is empty"},
		"file URL with host":     {url: "file://host/state.json", wantErr: "cannot name a host"},
		"file NUL":               {url: "file:a\x00b", wantErr: "NUL"},
		"unix socket":            {url: "unix:///run/redis.sock", wantErr: `unknown kind "unix"`},
		"redis bad db":           {url: "redis://127.0.0.1:6379/zero", wantErr: "invalid database number"},
		"redis deep path":        {url: "redis://127.0.0.1:6379/0/1", wantErr: "invalid URL path"},
		"redis bad port":         {url: "redis://127.0.0.1:port/0", wantErr: "invalid port"},
		"redis empty key":        {url: "redis://127.0.0.1:6379/0?key=", wantErr: "key must be given once"},
		"redis two keys":         {url: "redis://127.0.0.1:6379/0?key=a&key=b", wantErr: "key must be given once"},
		"redis unknown option":   {url: "redis://127.0.0.1:6379/0?color=blue", wantErr: "unexpected option: color"},
		"redis bad timeout":      {url: "redis://127.0.0.1:6379/0?dial_timeout=soon", wantErr: "dial_timeout"},
		"redis bad URL w/ pass":  {url: "redis://u:secret@127.0.0.1:port/0", wantErr: "invalid port"},
		"redis bad opt w/ pass":  {url: "redis://u:secret@127.0.0.1:1/0?color=blue", wantErr: "unexpected option"},
		"redis bad key w/ pass":  {url: "redis://:secret@127.0.0.1:1/0?key=", wantErr: "key must be given once"},
		"redis raw @ in pass":    {url: "redis://u:se@cret@127.0.0.1:port/0", wantErr: "invalid"},
		"http":                   {url: "http://127.0.0.1/", wantErr: `unknown kind "http"`},
		"windows-looking path":   {url: `C:\state.json`, wantErr: `unknown kind "C"`},
		"leading space":          {url: " memory", wantErr: "unknown kind"},
		"memory with query only": {url: "memory:", wantErr: "takes nothing after it"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := state.Open(tc.url, nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Open(%q): got error %v, want nil", tc.url, err)
				}
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): got no error, want one containing %q", tc.url, tc.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("Open(%q): got error %q, want it to contain %q", tc.url, msg, tc.wantErr)
			}
			if !strings.Contains(msg, `"memory", "file:PATH", "redis://host:port/db"`) || !strings.Contains(msg, "redis+sentinel://") {
				t.Errorf("Open(%q): got error %q, want it to list the accepted forms", tc.url, msg)
			}
			if strings.Contains(msg, "secret") || strings.Contains(msg, "cret") {
				t.Errorf("Open(%q): error %q shows the password", tc.url, msg)
			}
		})
	}
}

func TestOpenFileResolvesRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := state.Open("file:rel.json", nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Save(t.Context(), state.State{On: true}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	// A later change of directory must not move the store.
	t.Chdir(t.TempDir())
	got, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !got.On {
		t.Errorf("Load after chdir: got %+v, want On", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "rel.json")); err != nil {
		t.Errorf("the state file is not where Open was called: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"no credentials":   {in: "redis://127.0.0.1:6379/0", want: "redis://127.0.0.1:6379/0"},
		"password":         {in: "redis://u:secret@h:1/0", want: "redis://u:xxxxx@h:1/0"},
		"unparsable":       {in: "redis://u:secret@h:port/0", want: "redis://xxxxx@h:port/0"},
		"raw @ unparsable": {in: "redis://u:a@b@h:port/0", want: "redis://xxxxx@h:port/0"},
		"file kept as is":  {in: "file:my state%.json", want: "file:my state%.json"},
		"memory":           {in: "memory", want: "memory"},
		"sentinel":         {in: "redis+sentinel://u:secret@h1:1,h2:2/m?sentinel_password=secret2&key=k", want: "redis+sentinel://u:xxxxx@h1:1,h2:2/m?sentinel_password=xxxxx&key=k"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := state.RedactURL(tc.in); got != tc.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	for _, seed := range []string{
		"memory", "file:/tmp/x.json", "file:///tmp/x.json", "file://h/x", "file:",
		"redis://127.0.0.1:6379/0", "redis://u:p@h:1/2?key=k&dial_timeout=1s", "rediss://h",
		"redis://h:port", "redis://h/0?key=", "unix:///s", "", "::", "redis:", "redis:///",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := state.Open(raw, nil)
		if err != nil {
			if s != nil {
				t.Fatalf("Open(%q) returned a store and an error", raw)
			}
			if !strings.Contains(err.Error(), "invalid state store") {
				t.Fatalf("Open(%q): error %q does not say it is about the state store", raw, err)
			}
			return
		}
		if s == nil {
			t.Fatalf("Open(%q): no store and no error", raw)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close after Open(%q): %v", raw, err)
		}
	})
}
