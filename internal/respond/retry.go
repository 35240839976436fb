package respond

import (
	"strconv"
	"sync/atomic"
	"time"
)

// retryAfter produces the Retry-After value: fixed when no end is announced; otherwise the seconds
// left to it, recomputed at most once a second, and a short fixed value once it has passed.
type retryAfter struct {
	fixed   []string
	overdue []string
	until   time.Time
	cache   atomic.Pointer[retryCache]
}

type retryCache struct {
	unix int64
	val  []string
}

func newRetryAfter(fixed, overdue time.Duration, until time.Time) retryAfter {
	return retryAfter{
		fixed:   []string{strconv.Itoa(seconds(fixed))},
		overdue: []string{strconv.Itoa(seconds(overdue))},
		until:   until,
	}
}

func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// late reports whether the announced end has passed.
func (r *retryAfter) late(now time.Time) bool {
	return !r.until.IsZero() && !now.Before(r.until)
}

// value returns the header value and whether the announced end has passed.
func (r *retryAfter) value(now time.Time) ([]string, bool) {
	if r.until.IsZero() {
		return r.fixed, false
	}
	left := r.until.Sub(now)
	if left <= 0 {
		return r.overdue, true
	}
	unix := now.Unix()
	if c := r.cache.Load(); c != nil && c.unix == unix {
		return c.val, false
	}
	c := &retryCache{unix: unix, val: []string{strconv.Itoa(seconds(left))}}
	r.cache.Store(c)
	return c.val, false
}
