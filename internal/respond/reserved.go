package respond

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/maintpage/maintpage/internal/config"
)

// newReserved builds the handler for the reserved prefix: health, status, assets and, when a token
// is configured, metrics. Nothing under the prefix is ever answered with the maintenance response.
func newReserved(cfg *config.Config, st Status, gatherer prometheus.Gatherer) (http.Handler, error) {
	statusJSON, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	statusJSON = append(statusJSON, '\n')
	p := cfg.ReservedPrefix
	mux := http.NewServeMux()
	mux.HandleFunc(p+"health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Cache-Control"] = noStore
		w.Header()["Content-Type"] = textPlain
		w.Write([]byte("ok\n")) //nolint:errcheck
	})
	mux.HandleFunc(p+"status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Cache-Control"] = noStore
		w.Header()["Content-Type"] = appJSON
		w.Write(statusJSON) //nolint:errcheck
	})
	if cfg.AssetsDir != "" {
		assets, err := newAssets(cfg.AssetsDir)
		if err != nil {
			return nil, err
		}
		mux.Handle(p+"assets/", http.StripPrefix(p+"assets/", assets))
	}
	if cfg.MetricsToken != "" && gatherer != nil {
		mh := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
		want := []byte("Bearer " + cfg.MetricsToken)
		mux.HandleFunc(p+"metrics", func(w http.ResponseWriter, r *http.Request) {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="maintpage metrics"`)
				http.Error(w, "unauthorized: send Authorization: Bearer <metrics_token>", http.StatusUnauthorized)
				return
			}
			mh.ServeHTTP(w, r)
		})
	}
	mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Cache-Control"] = noStore
		http.Error(w, "not found", http.StatusNotFound)
	})
	return mux, nil
}

var (
	noStore   = []string{"no-store"}
	textPlain = []string{"text/plain; charset=utf-8"}
	appJSON   = []string{"application/json"}
	cacheLong = []string{"public, max-age=86400"}
)

// assets serves files from one directory: no listings, and no path (.., symlinks) out of it,
// which os.Root enforces.
type assets struct {
	fsys fs.FS
	srv  http.Handler
}

func newAssets(dir string) (*assets, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	fsys := noDirs{root.FS()}
	return &assets{fsys: fsys, srv: http.FileServerFS(fsys)}, nil
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r)
		return
	}
	w.Header()["Cache-Control"] = cacheLong
	w.Header()["X-Content-Type-Options"] = []string{"nosniff"}
	a.srv.ServeHTTP(w, r)
}

// noDirs hides directories, so the file server can neither list them nor serve an index.html
// that was not asked for by name.
type noDirs struct{ fs.FS }

func (n noDirs) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.Join(fs.ErrNotExist)}
	}
	return f, nil
}
