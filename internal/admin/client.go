package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/maintpage/maintpage/internal/state"
)

// DefaultPath is where the admin API lives with the default reserved prefix.
const DefaultPath = "/_maintenance/admin/state"

// Client talks to a gate's admin API.
type Client struct {
	url   string
	token string
	hc    *http.Client
}

// HTTPError is an answer other than 200 from the admin API.
type HTTPError struct {
	Status int
	Msg    string
}

func (e *HTTPError) Error() string {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("the gate refused the token (%d): set MAINTPAGE_ADMIN_TOKEN to the gate's admin_token", e.Status)
	case http.StatusNotFound:
		return "no admin API at this URL (404): the gate has no admin_token configured, or the URL or its reserved prefix is wrong"
	}
	if e.Msg != "" {
		return fmt.Sprintf("the gate answered %d: %s", e.Status, e.Msg)
	}
	return fmt.Sprintf("the gate answered %d", e.Status)
}

// NewClient returns a client for the gate at base. base is the gate's URL (https://gate.example.com,
// which means the default reserved prefix), its reserved prefix (https://gate.example.com/_mp/), or
// the admin URL itself (…/admin/state). Plain http is accepted only for loopback addresses, since
// the token travels in every request. hc nil means a client with timeouts.
func NewClient(base, token string, hc *http.Client) (*Client, error) {
	if token == "" {
		return nil, errors.New("no admin token: set MAINTPAGE_ADMIN_TOKEN to the gate's admin_token")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--admin %q: write the gate's URL, such as https://gate.example.com", base)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--admin %q: write only scheme://host[:port][/prefix/]; the token comes from MAINTPAGE_ADMIN_TOKEN, never the URL", u.Redacted())
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("--admin %q: use https; plain http would send the admin token unencrypted (allowed only for localhost)", base)
	}
	switch {
	case strings.HasSuffix(u.Path, "/admin/state"):
	case u.Path == "" || u.Path == "/":
		u.Path = DefaultPath
	default:
		u.Path = strings.TrimSuffix(u.Path, "/") + "/admin/state"
	}
	if hc == nil {
		hc = &http.Client{
			Timeout: 15 * time.Second,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				TLSHandshakeTimeout:   5 * time.Second,
				ResponseHeaderTimeout: 10 * time.Second,
			},
			// A redirect could carry the token elsewhere; the admin API never redirects.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{url: u.String(), token: token, hc: hc}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the admin endpoint the client talks to.
func (c *Client) URL() string { return c.url }

// Status reads the gate's state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return c.do(ctx, http.MethodGet, nil)
}

// Set replaces the gate's state with req.
func (c *Client) Set(ctx context.Context, req Request) (Status, error) {
	if req.On == nil {
		return Status{}, errors.New(`admin request without "on"`)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return Status{}, err
	}
	return c.do(ctx, http.MethodPut, b)
}

// Off turns maintenance off: of one scope, or with scope "" of the whole site and every scope.
func (c *Client) Off(ctx context.Context, scope, changedBy, reason string) (Status, error) {
	off := false
	return c.Set(ctx, Request{On: &off, Scope: scope, ChangedBy: changedBy, Reason: reason})
}

// History reads the gate's history, newest first: at most limit entries (0: the gate's default),
// of scope when it is not empty.
func (c *Client) History(ctx context.Context, limit int, scope string) ([]state.Entry, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	u := strings.TrimSuffix(c.url, "/state") + "/history"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var h History
	if err := c.call(ctx, http.MethodGet, u, nil, &h); err != nil {
		return nil, err
	}
	return h.Entries, nil
}

func (c *Client) do(ctx context.Context, method string, body []byte) (Status, error) {
	var st Status
	err := c.call(ctx, method, c.url, body, &st)
	return st, err
}

func (c *Client) call(ctx context.Context, method, u string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API %s: %w", c.url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("admin API %s: reading the answer: %w", c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		_ = json.Unmarshal(data, &eb)
		return &HTTPError{Status: resp.StatusCode, Msg: eb.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API %s: not a maintpage admin answer: %w", c.url, err)
	}
	return nil
}

// unwrapURLError drops url.Error's repetition of method and URL; we say the URL ourselves.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
