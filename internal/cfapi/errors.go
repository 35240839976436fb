package cfapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cloudfoundry/go-cfclient/v3/resource"
)

// These mark errors that mean "fix the command or the login, nothing was changed"; the CLI maps them
// to its usage exit code.
var (
	ErrNotLoggedIn   = errors.New("not logged in to Cloud Foundry")
	ErrNoTarget      = errors.New("no org and space targeted")
	ErrAppNotFound   = errors.New("app not found")
	ErrRouteNotFound = errors.New("route not found")
)

// CCError is an error answered by the Cloud Controller, kept whole so the operator sees what CC said.
type CCError struct {
	Code   int
	Title  string
	Detail string
	err    error
}

func (e *CCError) Error() string {
	if e.Title == "" {
		return fmt.Sprintf("Cloud Controller answered %s", e.Detail)
	}
	return fmt.Sprintf("Cloud Controller error %s (%d): %s", e.Title, e.Code, e.Detail)
}

func (e *CCError) Unwrap() error { return e.err }

// asCCError lifts go-cfclient's error types into a CCError so messages do not carry the client's
// own prefixes and request paths twice.
func asCCError(err error) error {
	var cfe resource.CloudFoundryError
	if errors.As(err, &cfe) {
		return &CCError{Code: cfe.Code, Title: cfe.Title, Detail: cfe.Detail, err: err}
	}
	var cfes resource.CloudFoundryErrors
	if errors.As(err, &cfes) && len(cfes.Errors) > 0 {
		e := cfes.Errors[0]
		return &CCError{Code: e.Code, Title: e.Title, Detail: e.Detail, err: err}
	}
	var he resource.CloudFoundryHTTPError
	if errors.As(err, &he) {
		return &CCError{Detail: fmt.Sprintf("HTTP %s: %s", he.Status, strings.TrimSpace(string(he.Body))), err: err}
	}
	return err
}

func isInvalidToken(err error) bool {
	var ce *CCError
	return errors.As(err, &ce) && (ce.Title == "CF-InvalidAuthToken" || ce.Code == 1000)
}

// isTokenFetchError recognises a failed token grant. golang.org/x/oauth2's error type is not
// imported on purpose (it would become a direct dependency for one check); all its errors start
// with "oauth2: ".
func isTokenFetchError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "oauth2: ")
}

// StuckRoute is a route that could not be put back after a failure.
type StuckRoute struct {
	URL string
	Err error
}

// ApplyError reports a switch that failed part-way: which route failed and why, which routes were put
// back, and which could not be (those need the operator).
type ApplyError struct {
	Route      string
	Err        error
	RolledBack []string
	Stuck      []StuckRoute
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "switching route %s failed: %v", e.Route, e.Err)
	if len(e.Stuck) == 0 {
		fmt.Fprintf(&b, "; every route changed so far was put back as it was (%d), nothing is half-switched", len(e.RolledBack))
		return b.String()
	}
	b.WriteString("; these routes could NOT be put back and need attention:")
	for _, s := range e.Stuck {
		fmt.Fprintf(&b, " %s (%v);", s.URL, s.Err)
	}
	b.WriteString(" run `maintpage cf status APP` to see them, then run the same command again")
	return b.String()
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Incomplete says whether some route was left half-switched.
func (e *ApplyError) Incomplete() bool { return len(e.Stuck) > 0 }

// tokenErrorText keeps what the UAA said and drops go-cfclient's layers of request wrapping.
func tokenErrorText(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "oauth2: "); i >= 0 {
		return msg[i:]
	}
	return msg
}
