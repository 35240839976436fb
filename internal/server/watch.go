package server

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce lets an editor finish writing (several events) before the file is read.
const reloadDebounce = 150 * time.Millisecond

// WatchReload calls reload on SIGHUP and when file changes (file may be empty: SIGHUP only), until
// ctx ends. reload runs on WatchReload's goroutine, so two reloads never overlap.
func WatchReload(ctx context.Context, file string, log *slog.Logger, reload func()) {
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

// watchFile reports changes to file. It watches the file's directory, not the file, because editors
// and config-management tools replace a file by renaming a new one over it. The goroutine ends with ctx.
func watchFile(ctx context.Context, file string, log *slog.Logger) <-chan struct{} {
	if file == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("cannot watch the configuration file; reload with SIGHUP", "error", err)
		return nil
	}
	abs, err := filepath.Abs(file)
	if err == nil {
		err = w.Add(filepath.Dir(abs))
	}
	if err != nil {
		w.Close()
		log.Warn("cannot watch the configuration file; reload with SIGHUP", "error", err)
		return nil
	}
	out := make(chan struct{}, 1)
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
					select {
					case out <- struct{}{}:
					default:
					}
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("watching the configuration file", "error", err)
			}
		}
	}()
	return out
}
