package cfapi

import (
	"context"
	"crypto/tls"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy tunes how calls that the Cloud Controller refused for load or a passing fault are
// tried again. Zero fields take the defaults in the comments.
type RetryPolicy struct {
	Attempts  int           // tries in all, first included; 4
	BaseDelay time.Duration // first backoff, doubled each time, with jitter; 500ms
	MaxDelay  time.Duration // cap on one wait, Retry-After included; 30s
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	return p
}

// retryTransport sits under authTransport, so a retried request keeps its token. It tries
// again on 429 whatever the method, because CC did not act on a rate-limited request; on 5xx and
// network errors only for methods whose repetition lands in the same state. PATCH counts as such
// here because the only PATCHes sent (metadata, replace destinations) set absolute values; POST
// (insert destinations, token grants) does not, because a lost answer may hide a done deed.
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy
	sleep  func(context.Context, time.Duration) error
}

func newTransport(skipTLS bool, policy RetryPolicy) *retryTransport {
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
		// #nosec G402 -- only when the operator passes --skip-ssl-validation, as with the cf CLI.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: skipTLS, MinVersion: tls.VersionTLS12},
	}
	return &retryTransport{base: base, policy: policy.withDefaults(), sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func repeatable(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodPatch:
		return true
	}
	return false
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(req)
		if attempt >= t.policy.Attempts || ctx.Err() != nil {
			return resp, err
		}
		var wait time.Duration
		switch {
		case err != nil:
			if !repeatable(req.Method) {
				return nil, err
			}
			wait = t.backoff(attempt)
		case resp.StatusCode == http.StatusTooManyRequests:
			wait = retryAfter(resp.Header.Get("Retry-After"), t.backoff(attempt))
		case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && repeatable(req.Method):
			wait = retryAfter(resp.Header.Get("Retry-After"), t.backoff(attempt))
		default:
			return resp, nil
		}
		if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return resp, err // cannot send the body again
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		if serr := t.sleep(ctx, min(wait, t.policy.MaxDelay)); serr != nil {
			return nil, serr
		}
		if req.GetBody != nil {
			body, berr := req.GetBody()
			if berr != nil {
				return nil, berr
			}
			req = req.Clone(ctx)
			req.Body = body
		}
	}
}

func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.policy.BaseDelay << (attempt - 1)
	// Up to a quarter of jitter keeps several operators' retries from marching in step.
	return d + rand.N(d/4+1)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), or falls back.
func retryAfter(v string, fallback time.Duration) time.Duration {
	if v == "" {
		return fallback
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(at))
	}
	return fallback
}
