package cfapi

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/oauth2"
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
	Status int // HTTP status
	Code   int
	Title  string
	Detail string
}

func (e *CCError) Error() string {
	if e.Title == "" {
		return fmt.Sprintf("Cloud Controller answered %s", e.Detail)
	}
	return fmt.Sprintf("Cloud Controller error %s (%d): %s", e.Title, e.Code, e.Detail)
}

// refused says whether CC turned a request down without acting on it: CC validates a request
// (its messages, then its actions inside one database transaction) before it changes anything, so
// a 4xx answer means nothing changed. A 5xx or a lost answer may hide a done deed.
func refused(err error) bool {
	var ce *CCError
	return errors.As(err, &ce) && ce.Status >= 400 && ce.Status < 500
}

func isInvalidToken(err error) bool {
	var ce *CCError
	return errors.As(err, &ce) && (ce.Title == "CF-InvalidAuthToken" || ce.Code == 1000 || ce.Status == 401)
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
	// Op is what was done to Route ("binding route"); empty means "switching route".
	Op string
	// StatusCmd is the command that shows the routes' state, for the operator to run.
	StatusCmd string
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	op, status := cmp.Or(e.Op, "switching route"), cmp.Or(e.StatusCmd, "maintpage cf status APP")
	fmt.Fprintf(&b, "%s %s failed: %v", op, e.Route, e.Err)
	if len(e.Stuck) == 0 {
		fmt.Fprintf(&b, "; every route changed so far was put back as it was (%d), nothing is half-switched", len(e.RolledBack))
		return b.String()
	}
	b.WriteString("; these routes could NOT be put back and need attention:")
	for _, s := range e.Stuck {
		fmt.Fprintf(&b, " %s (%v);", s.URL, s.Err)
	}
	fmt.Fprintf(&b, " run `%s` to see them, then run the same command again", status)
	return b.String()
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Incomplete says whether some route was left half-switched.
func (e *ApplyError) Incomplete() bool { return len(e.Stuck) > 0 }

// tokenErrorText keeps what the UAA said and drops the layers of request wrapping.
func tokenErrorText(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return fmt.Sprintf("%s: %s", re.ErrorCode, re.ErrorDescription)
		}
		return fmt.Sprintf("HTTP %s", re.Response.Status)
	}
	return err.Error()
}
