package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// Store keeps one State where every instance that shares it can reach it.
// Implementations are safe for concurrent use.
type Store interface {
	// Load returns the stored state; an empty store yields the zero State
	// (maintenance off) and no error.
	Load(ctx context.Context) (State, error)
	// Save replaces the stored state and makes it visible to every Watch on
	// the same backing.
	Save(ctx context.Context, s State) error
	// SaveIfEmpty saves s, as Save does, only if the store holds no state at
	// all, and reports whether it did. A tracker uses it to put the last known
	// state back into a store that lost its data, without overwriting a state
	// that someone saved in the meantime.
	SaveIfEmpty(ctx context.Context, s State) (bool, error)
	// Update reads the stored state, passes it to fn and saves what fn returns, as one step with
	// respect to every other Update and Save on the same backing, in this or another process: two
	// gates switching two scopes at once both keep their change. fn may be called more than once
	// (when another writer got in between) and must not have side effects; an error from fn aborts
	// the update and is returned as it is. Update returns the state it saved.
	Update(ctx context.Context, fn func(State) (State, error)) (State, error)
	// Watch calls fn once with the stored state as soon as the watch is in
	// place, then again whenever it sees a change, made by this or another
	// process, until ctx ends or the store is closed. Quick successive changes
	// may be folded into the last one. fn is only called with states read
	// successfully, from one goroutine at a time. Watch returns nil when ctx
	// ends, ErrClosed when the store is closed, and another error when it can
	// no longer watch; the caller may then call Watch again.
	Watch(ctx context.Context, fn func(State)) error
	// Append adds e to the history kept beside the state and returns it with the ID the store
	// gave it; IDs grow with every append, whichever instance appends. The history is capped
	// (HistoryCap entries, or a rotated file): the oldest entries make room for new ones.
	Append(ctx context.Context, e Entry) (Entry, error)
	// History returns the entries q selects, oldest first.
	History(ctx context.Context, q HistoryQuery) ([]Entry, error)
	// Claim reports whether the caller is the first, among every instance sharing the store, to
	// claim key within ttl. Webhooks claim each history entry, so that of all the instances that
	// see an entry exactly one delivers it.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Close releases the store's resources and ends its watches. Later calls
	// return ErrClosed.
	Close() error
}

// ErrClosed is returned by a Store's methods after Close.
var ErrClosed = errors.New("state store is closed")

// closing is what every store keeps about being closed: a flag each call checks, and a channel
// whose closing ends the store's watches.
type closing struct {
	closed atomic.Bool
	done   chan struct{}
}

func (c *closing) isClosed() bool { return c.closed.Load() }

// close marks the store closed and ends its watches; a second call returns ErrClosed.
func (c *closing) close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	close(c.done)
	return nil
}

// DefaultRedisKey is the Redis key, and the pub/sub channel, used when the
// URL has no key parameter.
const DefaultRedisKey = "maintpage:state"

const acceptedForms = `use "memory", "file:PATH", "redis://host:port/db" (optionally "?key=NAME"; "rediss://" for TLS) or "redis+sentinel://host:port[,host:port…]/MASTER[/DB]"`

// Open returns the store the URL names. log receives what the store notices
// on its own, such as an unreadable notification; nil discards it.
func Open(rawURL string, log *slog.Logger) (Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme, rest, _ := strings.Cut(rawURL, ":")
	switch strings.ToLower(scheme) {
	case "memory":
		if rawURL != scheme {
			return nil, badURL(rawURL, `"memory" takes nothing after it`)
		}
		return NewMemory(), nil
	case "file":
		path, err := filePath(rest)
		if err != nil {
			return nil, badURL(rawURL, err.Error())
		}
		return newFile(path, log), nil
	case "redis", "rediss":
		r, err := openRedis(rawURL, log)
		if err != nil {
			return nil, err // not r: a nil *redisStore is a non-nil Store
		}
		return r, nil
	case "redis+sentinel", "rediss+sentinel":
		r, err := openSentinel(rawURL, log)
		if err != nil {
			return nil, err
		}
		return r, nil
	case "":
		return nil, badURL(rawURL, "empty")
	default:
		return nil, badURL(rawURL, fmt.Sprintf("unknown kind %q", scheme))
	}
}

// filePath takes the path literally rather than as a URL path, so that
// "file:my state.json" and "file:50%.json" mean what they say; only the
// "file:///abs" spelling is stripped, for people used to file URLs.
func filePath(rest string) (string, error) {
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		if !strings.HasPrefix(after, "/") {
			return "", errors.New(`a file URL cannot name a host; write "file:/abs/path" or "file:rel/path"`)
		}
		rest = after
	}
	if rest == "" {
		return "", errors.New("the file path is empty")
	}
	if strings.ContainsRune(rest, 0) {
		return "", errors.New("the file path contains a NUL byte")
	}
	abs, err := filepath.Abs(rest)
	if err != nil {
		return "", fmt.Errorf("resolve file path: %w", err)
	}
	return abs, nil
}

func badURL(rawURL, why string) error {
	return fmt.Errorf("invalid state store %q: %s; %s", RedactURL(rawURL), why, acceptedForms)
}

// RedactURL hides the credentials in a store URL so that it can be logged or
// shown in an error. It works on text that does not parse as a URL too, since
// that is exactly the text that ends up in error messages.
func RedactURL(rawURL string) string {
	rawURL = sentinelPassword.ReplaceAllString(rawURL, "${1}sentinel_password=xxxxx")
	if u, err := url.Parse(rawURL); err == nil {
		if u.User == nil {
			return rawURL // unchanged, so a path reads as the user wrote it
		}
		return u.Redacted()
	}
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return rawURL
	}
	j := strings.LastIndex(rawURL, "@")
	if j <= i {
		return rawURL
	}
	return rawURL[:i+3] + "xxxxx" + rawURL[j:]
}

// sentinelPassword finds a sentinel password in a query, to hide it.
var sentinelPassword = regexp.MustCompile(`([?&])sentinel_password=[^&#]*`)
