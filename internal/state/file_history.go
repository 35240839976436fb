package state

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// historyFileMax is the default size at which the file store's history is rotated: the current file is
// renamed to PATH.history.1 (replacing the one before) and a new one begun. Two files of this size
// hold about two thousand entries.
const historyFileMax = 256 << 10

// The history is PATH.history, one JSON entry per line, appended to and never rewritten;
// PATH.history.1 is the file before the last rotation. Every writer takes an exclusive flock on
// PATH.history.lock, so IDs grow across processes and a rotation never races an append.
func (f *fileStore) historyPath() string { return f.path + ".history" }

func (f *fileStore) lockHistory() (unlock func(), err error) {
	fh, err := os.OpenFile(f.path+".history.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open history lock: %w", err)
	}
	unlock, err = flock(fh)
	if err != nil {
		return nil, fmt.Errorf("lock history: %w", err)
	}
	return unlock, nil
}

// flock takes an exclusive flock on fh; unlock releases it and closes fh. On error fh is closed.
func flock(fh *os.File) (unlock func(), err error) {
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX); err != nil {
		fh.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(fh.Fd()), syscall.LOCK_UN)
		fh.Close()
	}, nil
}

// Append implements Store.
func (f *fileStore) Append(ctx context.Context, e Entry) (Entry, error) {
	if f.isClosed() {
		return Entry{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	unlock, err := f.lockHistory()
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	last, err := f.lastID()
	if err != nil {
		return Entry{}, err
	}
	e.ID = nextID(last, time.Now()).String()
	b, err := encodeEntry(e)
	if err != nil {
		return Entry{}, err
	}
	b = append(b, '\n')
	hp := f.historyPath()
	if fi, err := os.Stat(hp); err == nil && fi.Size()+int64(len(b)) > f.historyMax {
		if err := os.Rename(hp, hp+".1"); err != nil {
			return Entry{}, fmt.Errorf("rotate history file %s: %w", hp, err)
		}
	}
	fh, err := os.OpenFile(hp, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Entry{}, fmt.Errorf("open history file: %w", err)
	}
	// One write of one line: a reader that comes before it sees the line whole or not at all,
	// and a crash can at worst leave a torn last line, which readers skip.
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return Entry{}, fmt.Errorf("append to history file %s: %w", hp, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return Entry{}, fmt.Errorf("sync history file %s: %w", hp, err)
	}
	if err := fh.Close(); err != nil {
		return Entry{}, fmt.Errorf("close history file %s: %w", hp, err)
	}
	return e, nil
}

// History implements Store.
func (f *fileStore) History(ctx context.Context, q HistoryQuery) ([]Entry, error) {
	if f.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	// Reading while a writer rotates could miss the rotated file's lines: take the lock to read.
	unlock, err := f.lockHistory()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := f.readHistory()
	if err != nil {
		return nil, err
	}
	return q.apply(all), nil
}

// lastID returns the ID of the newest entry: the last readable line of the current file, or of
// the rotated one when the current file is empty. Only the tail is read, so an append costs the
// same however long the history is.
func (f *fileStore) lastID() (entryID, error) {
	for _, p := range []string{f.historyPath(), f.historyPath() + ".1"} {
		fh, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return entryID{}, fmt.Errorf("read history file: %w", err)
		}
		fi, err := fh.Stat()
		if err != nil {
			fh.Close()
			return entryID{}, fmt.Errorf("read history file: %w", err)
		}
		n := min(fi.Size(), 2*maxEntrySize)
		buf := make([]byte, n)
		_, err = fh.ReadAt(buf, fi.Size()-n)
		fh.Close()
		if err != nil {
			return entryID{}, fmt.Errorf("read history file %s: %w", p, err)
		}
		lines := bytes.Split(buf, []byte("\n"))
		for i := len(lines) - 1; i >= 0; i-- {
			if i == 0 && n < fi.Size() {
				break // the first piece may be the end of a longer line
			}
			e, err := decodeEntry(bytes.TrimSpace(lines[i]))
			if err != nil {
				continue
			}
			if id, ok := parseID(e.ID); ok {
				return id, nil
			}
		}
	}
	return entryID{}, nil
}

// readHistory reads the rotated file, then the current one.
func (f *fileStore) readHistory() ([]Entry, error) {
	var all []Entry
	for _, p := range []string{f.historyPath() + ".1", f.historyPath()} {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read history file: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 4096), maxEntrySize+1)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			e, err := decodeEntry(line)
			if err != nil {
				f.log.Warn("skipping an unreadable history line", "path", p, "error", err)
				continue
			}
			all = append(all, e)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read history file %s: %w", p, err)
		}
	}
	return all, nil
}

// Claim implements Store: a claim is a file created with O_EXCL in PATH.claims/, which exactly one
// process on the host can create. Claim files older than ttl are removed on the next claim; an
// expired claim is not taken over in place, since two processes could both remove and recreate it.
func (f *fileStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if f.isClosed() {
		return false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	dir := f.path + ".claims"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("claims directory: %w", err)
	}
	sum := sha256.Sum256([]byte(key))
	p := dir + "/" + hex.EncodeToString(sum[:16])
	fh, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	fh.Close()
	f.pruneClaims(dir, ttl)
	return true, nil
}

// pruneClaims removes claim files older than ttl, so the directory stays as small as the live
// claims; a claim is rare (one per change and webhook), so doing it on each is cheap.
func (f *fileStore) pruneClaims(dir string, ttl time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > ttl {
			_ = os.Remove(dir + "/" + e.Name())
		}
	}
}
