package respond

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/maintpage/maintpage/internal/config"
)

// newReserved builds the handler for the reserved prefix: health, status, assets and, when a token
// is configured, metrics. Nothing under the prefix is ever answered with the maintenance response.
func newReserved(cfg *config.Config, st Status, files *assets, gatherer prometheus.Gatherer) (http.Handler, error) {
	// The public status says whether, what and until when; who changed it and why stay behind the
	// admin API.
	statusJSON, err := json.Marshal(publicStatus{Maintenance: st.Maintenance, Message: st.Message, Until: st.Until, Start: st.Start, Scopes: st.Scopes, Next: st.Next})
	if err != nil {
		return nil, err
	}
	statusJSON = append(statusJSON, '\n')
	p := cfg.ReservedPrefix
	routes := map[string]http.HandlerFunc{
		p + "health": func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Cache-Control"] = noStore
			w.Header()["Content-Type"] = textPlain
			w.Write([]byte("ok\n")) //nolint:errcheck
		},
		p + "status": func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Cache-Control"] = noStore
			w.Header()["Content-Type"] = appJSON
			w.Write(statusJSON) //nolint:errcheck
		},
	}
	if cfg.MetricsToken != "" && gatherer != nil {
		mh := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
		// Compare digests, so that neither the token nor its length shows in the timing.
		want := sha256.Sum256([]byte("Bearer " + cfg.MetricsToken))
		routes[p+"metrics"] = func(w http.ResponseWriter, r *http.Request) {
			got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="maintpage metrics"`)
				http.Error(w, "unauthorized: send Authorization: Bearer <metrics_token>", http.StatusUnauthorized)
				return
			}
			mh.ServeHTTP(w, r)
		}
	}
	assetsPrefix := p + "assets/"
	// A plain table rather than a ServeMux: a mux would redirect unclean paths (/../) instead of
	// refusing them, and everything here is an exact path or the one assets prefix.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := routes[r.URL.Path]; ok {
			h(w, r)
			return
		}
		if name, ok := strings.CutPrefix(r.URL.Path, assetsPrefix); ok && files != nil {
			files.serve(w, r, name)
			return
		}
		w.Header()["Cache-Control"] = noStore
		http.Error(w, "not found", http.StatusNotFound)
	}), nil
}

// publicStatus is what <prefix>status shows to anyone.
type publicStatus struct {
	Maintenance bool      `json:"maintenance"`
	Message     string    `json:"message,omitempty"`
	Until       time.Time `json:"until,omitzero"`
	Start       time.Time `json:"start,omitzero"`
	// Scopes shows each configured scope; maintenance above is the whole site's.
	Scopes map[string]ScopeStatus `json:"scopes,omitempty"`
	Next   *NextWindow            `json:"next_window,omitempty"`
}

var (
	noStore   = []string{"no-store"}
	textPlain = []string{"text/plain; charset=utf-8"}
	appJSON   = []string{"application/json"}
	cacheLong = []string{"public, max-age=86400"}
	nosniff   = []string{"nosniff"}
)

// assets serves files from one directory: no listings, and no path (.., symlinks) out of it,
// which os.Root enforces.
type assets struct {
	fsys fs.FS
}

func newAssets(dir string) (*assets, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &assets{fsys: noDirs{root.FS()}}, nil
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !fs.ValidPath(name) || name == "." {
		// Refuse "..", empty and absolute names outright; os.Root also stops symlinks that leave.
		w.Header()["Cache-Control"] = noStore
		http.NotFound(w, r)
		return
	}
	f, err := a.fsys.Open(name)
	if err != nil {
		w.Header()["Cache-Control"] = noStore
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	rs, seekable := f.(io.ReadSeeker)
	if err != nil || !seekable {
		http.NotFound(w, r)
		return
	}
	w.Header()["Cache-Control"] = cacheLong
	w.Header()["X-Content-Type-Options"] = nosniff
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), rs)
}

// noDirs hides directories, so the file server can neither list them nor serve an index.html
// that was not asked for by name.
type noDirs struct{ fs.FS }

func (n noDirs) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	if err != nil {
		// Whatever the reason (missing, or a symlink out of the root), the answer is "not here".
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f, nil
}
