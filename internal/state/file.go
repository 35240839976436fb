package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// fileStore keeps the state in a JSON file. Writes go to a temporary file in
// the same directory and are renamed over the target, so a reader in another
// process sees the old state or the new one, never half of each.
type fileStore struct {
	path string // absolute, so events and reads agree whatever the cwd does
	log  *slog.Logger

	mu sync.Mutex // serializes this process's writes
	closing

	historyMax int64 // rotate the history file at this size
}

func newFile(path string, log *slog.Logger) *fileStore {
	return &fileStore{path: path, log: log, closing: closing{done: make(chan struct{})}, historyMax: historyFileMax}
}

func (f *fileStore) Load(ctx context.Context) (State, error) {
	if f.isClosed() {
		return State{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	return f.read()
}

func (f *fileStore) read() (State, error) {
	fh, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil // no file yet: nobody has turned maintenance on
	}
	if err != nil {
		return State{}, fmt.Errorf("read state file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxEncodedSize+1))
	if err != nil {
		return State{}, fmt.Errorf("read state file: %w", err)
	}
	s, err := Decode(b)
	if err != nil {
		return State{}, fmt.Errorf("state file %s: %w; fix or delete the file", f.path, err)
	}
	return s, nil
}

func (f *fileStore) Save(ctx context.Context, s State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := Encode(s)
	if err != nil {
		return err
	}
	unlock, err := f.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := f.writeAtomic(b); err != nil {
		return fmt.Errorf("write state file %s: %w", f.path, err)
	}
	return nil
}

// lock serialises the writes of this process (mu) and of every process on the host (an flock on
// the file's directory: the file itself is replaced by each write, so a lock on it would be a
// lock on a file nobody else opens, and a separate lock file would litter the directory).
func (f *fileStore) lock() (unlock func(), err error) {
	f.mu.Lock()
	if f.isClosed() {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	d, err := os.Open(filepath.Dir(f.path))
	if err != nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("write state file %s: lock its directory: %w", f.path, err)
	}
	unlockDir, err := flock(d)
	if err != nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("write state file %s: lock its directory: %w", f.path, err)
	}
	return func() {
		unlockDir()
		f.mu.Unlock()
	}, nil
}

// Update implements Store.
func (f *fileStore) Update(ctx context.Context, fn func(State) (State, error)) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	unlock, err := f.lock()
	if err != nil {
		return State{}, err
	}
	defer unlock()
	cur, err := f.read()
	if err != nil {
		return State{}, err
	}
	s, err := fn(cur)
	if err != nil {
		return State{}, err
	}
	b, err := Encode(s)
	if err != nil {
		return State{}, err
	}
	if err := f.writeAtomic(b); err != nil {
		return State{}, fmt.Errorf("write state file %s: %w", f.path, err)
	}
	return s, nil
}

// SaveIfEmpty implements Store; the directory lock makes the check and the write one step for
// every maintpage process on the host.
func (f *fileStore) SaveIfEmpty(ctx context.Context, s State) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	b, err := Encode(s)
	if err != nil {
		return false, err
	}
	unlock, err := f.lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := os.Stat(f.path); !errors.Is(err, fs.ErrNotExist) {
		return false, err // present (err nil), or unreadable
	}
	if err := f.writeAtomic(b); err != nil {
		return false, fmt.Errorf("write state file %s: %w", f.path, err)
	}
	return true, nil
}

func (f *fileStore) writeAtomic(b []byte) (err error) {
	dir, base := filepath.Split(f.path)
	// The temporary file must live in the target's directory: rename is only
	// atomic within one file system.
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// Readers may run as another user (an operator's CLI, a sidecar), and the
	// state holds no secret, so keep the target's mode or make it readable.
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(f.path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		return err
	}
	// Without the sync a crash right after the rename can leave an empty file,
	// which Decode rightly refuses.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return err
	}
	// Make the rename itself durable; some file systems refuse to sync a
	// directory, and the write has succeeded anyway, so ignore that.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (f *fileStore) Watch(ctx context.Context, fn func(State)) error {
	if f.isClosed() {
		return ErrClosed
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch state file: %w", err)
	}
	defer w.Close()
	// Watch the directory, not the file: a rename replaces the file's inode,
	// and a watch on the old inode would go silent after the first save.
	dir := filepath.Dir(f.path)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch state file directory %s: %w", dir, err)
	}

	var last State
	have := false
	deliver := func() {
		s, err := f.read()
		if err != nil {
			// A writer that does not rename shows us partial content first;
			// the tracker's periodic read reports a lasting problem.
			f.log.Debug("state file unreadable after a change", "path", f.path, "error", err)
			return
		}
		if have && s.Equal(last) {
			return
		}
		last, have = s, true
		fn(s)
	}

	deliver()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.done:
			return ErrClosed
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watch state file: watcher closed")
			}
			switch filepath.Clean(ev.Name) {
			case f.path:
				deliver()
			case dir:
				if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
					return fmt.Errorf("watch state file: directory %s was removed or renamed", dir)
				}
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watch state file: watcher closed")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				deliver() // events were lost; the file itself is still the truth
				continue
			}
			return fmt.Errorf("watch state file %s: %w", f.path, err)
		}
	}
}

func (f *fileStore) Close() error { return f.close() }
