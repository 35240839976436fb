package cfapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/oauth2"
)

// tokenError is a token grant the UAA refused (or could not be asked for), raised under the
// transport; the Client turns it into ErrNotLoggedIn with what to do.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return tokenErrorText(e.err) }
func (e *tokenError) Unwrap() error { return e.err }

// tokenSource is the one place where the login is renewed, as golang.org/x/oauth2's sources are:
// it hands out the current access token, renews it from the refresh token when it has expired or
// when the Cloud Controller refused it, and writes what it got back to the cf CLI's config.json,
// so that the operator's `cf` stays logged in (UAA may rotate the refresh token on every use).
type tokenSource struct {
	mu  sync.Mutex
	tok *oauth2.Token
	uaa oauth2.Config
	hc  *http.Client // for the UAA: retries, no token
	// first gets a token with the operator's credentials (password or client credentials); nil when
	// the login is the cf CLI's stored tokens, which only the refresh token renews.
	first func(ctx context.Context) (*oauth2.Token, error)
	// save writes renewed tokens back to config.json; prevRefresh is the refresh token they replace.
	// nil when the login did not come from there.
	save func(prevRefresh string, t *oauth2.Token) error
	warn func(error)
}

// token returns a valid access token, renewing it first when it has expired.
func (s *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.Valid() {
		return s.tok, nil
	}
	return s.renewLocked(ctx)
}

// renew replaces a token the Cloud Controller refused, unless another request already did.
func (s *tokenSource) renew(ctx context.Context, refused string) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken != refused && s.tok.Valid() {
		return s.tok, nil
	}
	return s.renewLocked(ctx)
}

func (s *tokenSource) renewLocked(ctx context.Context) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.hc)
	var t *oauth2.Token
	var err error
	switch {
	case s.tok != nil && s.tok.RefreshToken != "":
		t, err = s.uaa.TokenSource(ctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token()
		if err != nil && s.first != nil {
			t, err = s.first(ctx)
		}
	case s.first != nil:
		t, err = s.first(ctx)
	default:
		err = errors.New("the access token has expired and there is no refresh token")
	}
	if err != nil {
		return nil, &tokenError{err}
	}
	prev := ""
	if s.tok != nil {
		prev = s.tok.RefreshToken
	}
	if t.RefreshToken == "" && s.tok != nil && s.first == nil {
		t.RefreshToken = s.tok.RefreshToken // UAA did not rotate it: the old one stays good
	}
	s.tok = t
	if s.save != nil {
		if err := s.save(prev, t); err != nil && s.warn != nil {
			s.warn(err)
		}
	}
	return t, nil
}

// authTransport puts the token on every Cloud Controller request. A 401 means CC did nothing: the
// token is renewed once and the request sent again (a token that looks fresh can still be refused,
// after a revocation or with skewed clocks).
// The token goes to the Cloud Controller's own scheme and host only: a redirect or a link naming
// another place gets the request without it.
type authTransport struct {
	base http.RoundTripper
	src  *tokenSource
	api  *url.URL
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.api.Scheme || !strings.EqualFold(req.URL.Host, t.api.Host) {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	tok, err := t.src.token(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	first := req.Clone(ctx)
	first.Header.Set("Authorization", tok.Type()+" "+tok.AccessToken)
	resp, err := t.base.RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body cannot be sent twice
	}
	tok, err = t.src.renew(ctx, tok.AccessToken)
	if err != nil {
		return resp, nil // CC's own 401 says more than a failed renewal would
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	again := req.Clone(ctx)
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	again.Header.Set("Authorization", tok.Type()+" "+tok.AccessToken)
	return t.base.RoundTrip(again)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// writeBackTokens stores renewed tokens in the cf CLI's config.json the way the cf CLI does after a
// refresh: every other field is kept as it was, the file is replaced atomically (a temporary file in
// the same directory, then rename) and keeps its permissions. A config.json that no longer holds
// the login maintpage renewed is left alone: it targets another API, or its refresh token is not
// prevRefresh, because the operator ran `cf login` meanwhile (perhaps as someone else) or the cf CLI
// renewed and rotated its own tokens; writing over it would log the cf CLI out or switch its user.
func writeBackTokens(path, api, prevRefresh string, tok *oauth2.Token) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	var target string
	_ = json.Unmarshal(doc["Target"], &target)
	if !strings.EqualFold(strings.TrimRight(target, "/"), api) {
		return nil
	}
	var stored string
	_ = json.Unmarshal(doc["RefreshToken"], &stored)
	if stored != prevRefresh {
		return nil
	}
	set := func(k, v string) {
		b, _ := json.Marshal(v)
		doc[k] = b
	}
	set("AccessToken", "bearer "+tok.AccessToken)
	if tok.RefreshToken != "" {
		set("RefreshToken", tok.RefreshToken)
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	out = append(out, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config.json.maintpage-*")
	if err != nil {
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	if _, err := tmp.Write(out); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the renewed login back to %s: %w", path, err)
	}
	done = true
	return nil
}
