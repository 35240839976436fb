package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maintpage/maintpage/internal/config"
)

// Options configure Run.
type Options struct {
	Config *config.Config
	// Handler serves Config; Build makes the handler for a reloaded configuration.
	Handler http.Handler
	Build   func(*config.Config) (http.Handler, error)
	// Reload loads the configuration again (file, environment and flags); nil disables reloading.
	Reload func() (*config.Config, error)
	// Log is for the process's own messages; RequestLog gets one line per request (nil: none).
	Log        *slog.Logger
	RequestLog *slog.Logger
	// Metrics is served at /metrics on Config.MetricsListen when that is set.
	Metrics http.Handler
	// Listening is called with the bound address before serving starts (tests use port 0).
	Listening func(addr net.Addr)
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	h := o.Handler
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (is another server on that port? set PORT or --port to a free one)", cfg.Addr(), err)
	}
	var current atomic.Pointer[http.Handler]
	current.Store(&h)
	var root http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*current.Load()).ServeHTTP(w, r)
	})
	if o.RequestLog != nil {
		root = logRequests(root, o.RequestLog)
	}
	srv := newHTTPServer(cfg, root, o.Log)
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	var fast *fastListener
	if cfg.FastPath {
		// net/http serves the connections the fast path hands over; the fast path accepts.
		fast = newFastListener(ln, &current, srv, o.RequestLog)
		listeners[0] = fast
	}
	if cfg.MetricsListen != "" && o.Metrics != nil {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("cannot listen for metrics on %s: %w (choose a free address for metrics_listen)", cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", o.Metrics)
		servers = append(servers, newHTTPServer(cfg, mux, o.Log))
		listeners = append(listeners, mln)
		o.Log.Info("metrics listening", "addr", mln.Addr().String())
	}
	o.Log.Info("listening", "addr", ln.Addr().String(), "h2c", cfg.H2C)
	if o.Listening != nil {
		o.Listening(ln.Addr())
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(servers))
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				cancel()
			}
		}()
	}
	if fast != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fast.run(); err != nil {
				errc <- fmt.Errorf("accept: %w", err)
				cancel()
			}
		}()
	}
	if o.Reload != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchReload(ctx, cfg.File, o.Log, func() {
				next, err := o.Reload()
				if err != nil {
					o.Log.Error("reload failed; still serving the previous configuration", "error", err)
					return
				}
				nh, err := o.Build(next)
				if err != nil {
					o.Log.Error("reload failed; still serving the previous configuration", "error", err)
					return
				}
				if keys := config.RestartNeeded(cfg, next); len(keys) > 0 {
					o.Log.Warn("these settings change only on restart; the rest of the new configuration applies now", "settings", keys)
				}
				current.Store(&nh)
				o.Log.Info("configuration reloaded", "file", next.File)
			})
		}()
	}

	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer scancel()
	var stopping sync.WaitGroup
	for _, s := range servers {
		stopping.Add(1)
		go func() {
			defer stopping.Done()
			if err := s.Shutdown(sctx); err != nil {
				o.Log.Warn("shutdown deadline passed; closing remaining connections", "error", err)
				s.Close()
			}
		}()
	}
	if fast != nil {
		fast.shutdown(sctx.Done())
	}
	stopping.Wait()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func newHTTPServer(cfg *config.Config, h http.Handler, log *slog.Logger) *http.Server {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if cfg.H2C {
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		s.Protocols.SetUnencryptedHTTP2(true)
	}
	return s
}

// reloadDebounce lets an editor finish writing (several events) before the file is read.
const reloadDebounce = 150 * time.Millisecond

// watchReload calls reload on SIGHUP and when file changes, until ctx ends.
func watchReload(ctx context.Context, file string, log *slog.Logger, reload func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	changed := watchFile(ctx, file, log)
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading configuration")
			reload()
		case <-changed:
			timer = time.After(reloadDebounce)
		case <-timer:
			timer = nil
			log.Info("configuration file changed: reloading", "file", file)
			reload()
		}
	}
}
