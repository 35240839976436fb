package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maintpage/maintpage/internal/admin"
	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/schedule"
	"github.com/maintpage/maintpage/internal/state"
)

const toggleExitCodes = `Exit codes:
  0  done; for status: the state was read
  1  the store or the gate's admin API could not be reached, or did not take the change
  2  usage, nothing was changed: bad flags or times, neither or both of --state and --admin,
     --state memory, no MAINTPAGE_ADMIN_TOKEN, or a token the gate refused`

// toggleTimeout bounds one command: a store or gate that does not answer is an error, not a hang.
const toggleTimeout = 20 * time.Second

type toggleFlags struct {
	state, admin, scope, config       string
	message, until, start, reason, by string
	json                              bool
}

func newToggleCmds(e *env) []*cobra.Command {
	common := func(c *cobra.Command, f *toggleFlags) {
		c.Flags().StringVar(&f.state, "state", "", "the store the gates read: file:PATH, redis://host:port/db or redis+sentinel://host:port[,host:port…]/MASTER[/DB] (env MAINTPAGE_STATE)")
		c.Flags().StringVar(&f.admin, "admin", "", "a gate's URL, such as https://gate.example.com; token from MAINTPAGE_ADMIN_TOKEN")
		c.Flags().BoolVar(&f.json, "json", false, "print the state as JSON")
		c.Flags().StringVar(&f.config, "config", "", "the gates' configuration file, for its scopes and windows with --state (default: what the gates published in the store)")
	}
	scope := func(c *cobra.Command, f *toggleFlags, what string) {
		c.Flags().StringVar(&f.scope, "scope", "", what)
	}
	who := func(c *cobra.Command, f *toggleFlags) {
		c.Flags().StringVar(&f.reason, "reason", "", "why, for the status endpoint and the log")
		c.Flags().StringVar(&f.by, "by", "", "who made the change (default $USER@hostname)")
	}

	on := &toggleFlags{}
	onCmd := &cobra.Command{
		Use:   "on",
		Short: "Turn maintenance on at every gate that reads the state",
		Long: `on stores "maintenance on" where the gates read it, directly in the store (--state) or through a
gate's admin API (--admin). Every gate on the same store switches within a second; nothing is
re-routed. --scope NAME turns on only the requests whose first matching rule has scope: NAME (a
scope the configuration does not name is refused, with the known ones); without it, the whole site.
--start schedules the window: the gates turn maintenance on by themselves at that time.
--until announces its end (Retry-After and the page say it); the gates end it then only with
end_at_until: true. Times are RFC 3339 (2026-11-26T18:00:00Z) or a duration from now (90m, 2h).

` + toggleExitCodes,
		Example: `  maintpage on --state redis://redis.internal:6379/0 --message "Upgrading the database" --until 2h
  maintpage on --state redis://redis.internal:6379/0 --scope api --message "The API is paused for 10 minutes"
  maintpage on --admin https://gate.example.com --start 2026-11-26T17:00:00Z --until 2026-11-26T18:00:00Z`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error { return runToggle(cmd.Context(), e, on, true) },
	}
	common(onCmd, on)
	who(onCmd, on)
	scope(onCmd, on, "turn on only the scope of this name: the requests whose first matching rule has scope: NAME (default: the whole site)")
	onCmd.Flags().StringVar(&on.message, "message", "", "the message every format shows (default: the configured one)")
	onCmd.Flags().StringVar(&on.until, "until", "", "announced end: RFC 3339 time or a duration from now")
	onCmd.Flags().StringVar(&on.start, "start", "", "scheduled start: RFC 3339 time or a duration from now (default: now)")

	off := &toggleFlags{}
	offCmd := &cobra.Command{
		Use:   "off",
		Short: "Turn maintenance off: the gates pass traffic to the application again",
		Long: `off stores "maintenance off" where the gates read it (--state) or through a gate's admin API
(--admin). A scheduled window that has not started is cancelled too. Without --scope it ends the
maintenance of the whole site and of every scope; with --scope NAME only that scope's.

` + toggleExitCodes,
		Example: `  maintpage off --state redis://redis.internal:6379/0`,
		Args:    exactArgs(0, "no arguments"),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runToggle(cmd.Context(), e, off, false) },
	}
	common(offCmd, off)
	who(offCmd, off)
	scope(offCmd, off, "turn off only this scope (default: the whole site and every scope)")

	st := &toggleFlags{}
	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Print the maintenance state",
		Long: `status prints the stored maintenance state (--state) or a gate's view of it, with its store's
health (--admin). It exits 0 whether maintenance is on or off.

` + toggleExitCodes,
		Example: `  maintpage status --admin https://gate.example.com --json`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), toggleTimeout)
			defer cancel()
			b, err := openBackend(e, st)
			if err != nil {
				return err
			}
			defer b.close()
			s, err := b.status(ctx)
			if err != nil {
				return err
			}
			return printState(e.stdout, s, b.viaAdmin(), st.json, time.Now())
		},
	}
	common(statusCmd, st)

	hf := &toggleFlags{}
	var limit int
	historyCmd := &cobra.Command{
		Use:   "history",
		Short: "Print who changed the maintenance state, when, how and why",
		Long: `history prints the changes recorded beside the state, newest first: every on, off and change, by
the CLI (its user and host), the admin API and page (the admin token's name and the client's
address), windows, and a store written back after it lost its data. It reads the store the gates
share (--state) or asks a gate (--admin). The store keeps about the last 1000 changes.

` + toggleExitCodes,
		Example: `  maintpage history --state redis://redis.internal:6379/0 --limit 20
  maintpage history --admin https://gate.example.com --scope api --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > state.HistoryCap {
				return usageErr(fmt.Errorf("--limit %d: use a number from 1 to %d", limit, state.HistoryCap))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), toggleTimeout)
			defer cancel()
			b, err := openBackend(e, hf)
			if err != nil {
				return err
			}
			defer b.close()
			es, err := b.history(ctx, limit, hf.scope)
			if err != nil {
				return err
			}
			return printHistory(e.stdout, es, hf.json)
		},
	}
	common(historyCmd, hf)
	historyCmd.Flags().IntVar(&limit, "limit", 20, "show at most this many changes, the newest")
	scope(historyCmd, hf, "show only the changes of this scope")
	return []*cobra.Command{onCmd, offCmd, statusCmd, historyCmd}
}

func runToggle(ctx context.Context, e *env, f *toggleFlags, on bool) error {
	now := time.Now()
	s := state.Scope{On: on, Message: f.message, Reason: f.reason, ChangedBy: f.by}
	var err error
	if s.Until, err = parseWhen("--until", f.until, now); err != nil {
		return err
	}
	if s.Start, err = parseWhen("--start", f.start, now); err != nil {
		return err
	}
	if !s.Until.IsZero() && !s.Until.After(now) {
		return usageErr(fmt.Errorf("--until %s is in the past: announce an end that is still to come", f.until))
	}
	if !s.Start.IsZero() && !s.Until.IsZero() && !s.Until.After(s.Start) {
		return usageErr(errors.New("--until must be after --start"))
	}
	if s.ChangedBy == "" {
		s.ChangedBy = defaultChangedBy(e)
	}
	b, err := openBackend(e, f)
	if err != nil {
		return err
	}
	defer b.close()
	ctx, cancel := context.WithTimeout(ctx, toggleTimeout)
	defer cancel()
	got, err := b.set(ctx, f.scope, s)
	if err != nil {
		return err
	}
	return printState(e.stdout, got, b.viaAdmin(), f.json, now)
}

// parseWhen reads an RFC 3339 time or a duration from now ("90m", "+2h"), as admin.ParseWhen does
// for the page; a bad value is a usage error that names the flag.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	t, err := admin.ParseWhen(flag, v, now)
	if err != nil {
		return time.Time{}, usageErr(err)
	}
	return t, nil
}

func defaultChangedBy(e *env) string {
	user := e.getenv("USER")
	if user == "" {
		user = e.getenv("LOGNAME")
	}
	if user == "" {
		user = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return user
	}
	return user + "@" + host
}

// backend is where on, off and status act: the store itself, or a gate's admin API.
type backend interface {
	status(ctx context.Context) (admin.Status, error)
	// set switches scope ("" the whole site) to s.
	set(ctx context.Context, scope string, s state.Scope) (admin.Status, error)
	// history returns the newest entries first.
	history(ctx context.Context, limit int, scope string) ([]state.Entry, error)
	viaAdmin() bool
	close()
}

func openBackend(e *env, f *toggleFlags) (backend, error) {
	stateURL := f.state
	if stateURL == "" && f.admin == "" {
		stateURL = e.getenv("MAINTPAGE_STATE")
	}
	switch {
	case stateURL != "" && f.admin != "":
		return nil, usageErr(errors.New("give either --state (the store) or --admin (a gate), not both"))
	case f.admin != "" && f.config != "":
		return nil, usageErr(errors.New("--config goes with --state; with --admin the gate checks scopes against its own configuration"))
	case f.admin != "":
		c, err := admin.NewClient(f.admin, e.getenv("MAINTPAGE_ADMIN_TOKEN"), nil)
		if err != nil {
			return nil, usageErr(err)
		}
		return adminBackend{c}, nil
	case stateURL == "":
		return nil, usageErr(errors.New("say where the state is: --state redis://host:port/db, redis+sentinel://host:port/MASTER or file:PATH (the store the gates read), or --admin https://gate.example.com"))
	case strings.EqualFold(stateURL, "memory"):
		return nil, usageErr(errors.New(`--state memory lives inside one serve process and cannot be reached from here: use the store the gates share (redis://… or file:PATH), or --admin with a gate's URL`))
	}
	// go-redis would print every failed dial; the error we return says what matters.
	routeRedisLogs(slog.New(slog.DiscardHandler))
	b := storeBackend{url: state.RedactURL(stateURL)}
	if f.config != "" {
		cfg, err := config.Load(f.config, nil, nil)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--config: %w", err))
		}
		k := knownOf(cfg)
		b.known = &k
		b.endAtUntil = cfg.EndAtUntil
	}
	store, err := state.Open(stateURL, nil)
	if err != nil {
		return nil, usageErr(err)
	}
	b.store, b.stderr = store, e.stderr
	return b, nil
}

// redisLogsOnce guards go-redis's one process-wide logger, which it reads without a lock: set it
// once, before any client exists.
var redisLogsOnce sync.Once

func routeRedisLogs(log *slog.Logger) { redisLogsOnce.Do(func() { state.RouteRedisLogs(log) }) }

type storeBackend struct {
	store  state.Store
	url    string
	stderr io.Writer
	// known is what --config says; nil: what the gates published in the store.
	known      *state.Known
	endAtUntil bool
}

// knownIn is what the backend knows about the gates' configuration, given the stored state.
func (b storeBackend) knownIn(s state.State) state.Known {
	switch {
	case b.known != nil:
		return *b.known
	case s.Known != nil:
		return *s.Known
	}
	return state.Known{}
}

// statusOf is what status shows for a stored state.
func (b storeBackend) statusOf(s state.State, now time.Time) admin.Status {
	k := b.knownIn(s)
	var windows []*schedule.Window
	for _, spec := range k.Windows {
		// What the gates published passed their own check; one this binary cannot read (a newer
		// gate's) is left out of the view rather than failing the status.
		if w, err := schedule.New(spec, now); err == nil {
			windows = append(windows, w)
		}
	}
	v := s.ViewAt(now, state.ViewOptions{EndAtUntil: b.endAtUntil, Scopes: k.Scopes, Windows: windows})
	st := admin.StatusOf(s, v)
	st.Store = admin.Store{OK: true}
	return st
}

func (b storeBackend) viaAdmin() bool { return false }
func (b storeBackend) close()         { b.store.Close() } //nolint:errcheck

func (b storeBackend) status(ctx context.Context) (admin.Status, error) {
	s, err := b.store.Load(ctx)
	if err != nil {
		return admin.Status{}, withCode(ExitFailure, fmt.Errorf("reading the state from %s: %w", b.url, err))
	}
	return b.statusOf(s, time.Now()), nil
}

// errScope marks a scope refused inside an update, so that it exits 2 rather than 1.
type errScope struct{ error }

func (b storeBackend) set(ctx context.Context, scope string, s state.Scope) (admin.Status, error) {
	s.ChangedAt = time.Now().UTC().Round(0)
	// Checked against the stored state, read in the same step: the scopes the gates published.
	var old state.Scope
	saved, err := b.store.Update(ctx, func(cur state.State) (state.State, error) {
		if scope != "" {
			k := b.knownIn(cur)
			if b.known == nil && cur.Known == nil {
				return cur, errScope{fmt.Errorf("unknown scope %q: no gate has published its scopes in %s yet; start a gate with a configuration that names it, or pass that configuration with --config", scope, b.url)}
			}
			if err := state.CheckScope(scope, k.Scopes); err != nil {
				if _, stored := cur.Scopes[scope]; s.On || !stored {
					return cur, errScope{err}
				}
			}
		}
		old = cur.Switch(scope)
		return cur.WithScope(scope, s), nil
	})
	var es errScope
	if errors.As(err, &es) {
		return admin.Status{}, usageErr(es.error)
	}
	if err != nil {
		return admin.Status{}, withCode(ExitFailure, fmt.Errorf("saving the state to %s, nothing changed: %w", b.url, err))
	}
	host, _ := os.Hostname()
	if _, err := state.Record(ctx, b.store, old, s, state.Origin{Who: s.ChangedBy, Via: state.ViaCLI, Addr: host, Scope: scope}); err != nil {
		fmt.Fprintf(b.stderr, "maintpage: warning: the change is made, but %v\n", err)
	}
	return b.statusOf(saved, time.Now()), nil
}

func (b storeBackend) history(ctx context.Context, limit int, scope string) ([]state.Entry, error) {
	es, err := b.store.History(ctx, state.HistoryQuery{Limit: limit, Scope: scope})
	if err != nil {
		return nil, withCode(ExitFailure, fmt.Errorf("reading the history from %s: %w", b.url, err))
	}
	slices.Reverse(es)
	return es, nil
}

func (b adminBackend) history(ctx context.Context, limit int, scope string) ([]state.Entry, error) {
	es, err := b.c.History(ctx, limit, scope)
	return es, adminErr(err)
}

type adminBackend struct{ c *admin.Client }

func (b adminBackend) viaAdmin() bool { return true }
func (b adminBackend) close()         {}

func (b adminBackend) status(ctx context.Context) (admin.Status, error) {
	s, err := b.c.Status(ctx)
	return s, adminErr(err)
}

func (b adminBackend) set(ctx context.Context, scope string, s state.Scope) (admin.Status, error) {
	on := s.On
	got, err := b.c.Set(ctx, admin.Request{On: &on, Scope: scope, Message: s.Message, Until: s.Until, Start: s.Start, Reason: s.Reason, ChangedBy: s.ChangedBy})
	return got, adminErr(err)
}

// adminErr makes a refused token, a missing admin API or a refused request a usage error (2): they
// need a fix on the caller's side, not a retry.
func adminErr(err error) error {
	if err == nil {
		return nil
	}
	var he *admin.HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return usageErr(err)
		}
	}
	return withCode(ExitFailure, err)
}

func printState(w io.Writer, st admin.Status, viaAdmin, asJSON bool, now time.Time) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	s := st.State
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var mode string
	switch {
	case st.Window != nil:
		mode = fmt.Sprintf("on, by window %s until %s", st.Window.Window, when(st.Window.Until, now))
	case !s.On:
		mode = "off"
	case !s.Start.IsZero() && now.Before(s.Start):
		mode = "scheduled: starts " + when(s.Start, now)
	case viaAdmin && !st.Active:
		mode = "on, but ended at the announced end (end_at_until)"
	default:
		mode = "on"
	}
	fmt.Fprintf(tw, "maintenance:\t%s\n", mode)
	if s.On {
		if s.Message != "" {
			fmt.Fprintf(tw, "message:\t%s\n", s.Message)
		}
		if !s.Until.IsZero() {
			fmt.Fprintf(tw, "until:\t%s\n", when(s.Until, now))
		}
	}
	if s.Reason != "" {
		fmt.Fprintf(tw, "reason:\t%s\n", s.Reason)
	}
	if !s.ChangedAt.IsZero() || s.ChangedBy != "" {
		by := s.ChangedBy
		if by == "" {
			by = "unknown"
		}
		fmt.Fprintf(tw, "changed:\t%s by %s\n", s.ChangedAt.UTC().Format(time.RFC3339), by)
	}
	names := make([]string, 0, len(st.Scopes))
	for name := range st.Scopes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		a := st.Scopes[name]
		line := "off"
		switch {
		case a.Active && a.Window != "":
			line = "on, by window " + a.Window
		case a.Active:
			line = "on"
		case a.On && !a.Start.IsZero() && now.Before(a.Start):
			line = "scheduled: starts " + when(a.Start, now)
		}
		if a.Active && a.Message != "" {
			line += ": " + a.Message
		}
		if a.Active && !a.Until.IsZero() {
			line += " (until " + when(a.Until, now) + ")"
		}
		fmt.Fprintf(tw, "scope %s:\t%s\n", name, line)
	}
	if n := st.Next; n != nil {
		scope := "the whole site"
		if n.Scope != "" {
			scope = "scope " + n.Scope
		}
		fmt.Fprintf(tw, "next window:\t%s, %s, until %s (%s)\n", n.Window, when(n.Start, now), n.End.UTC().Format(time.RFC3339), scope)
	}
	if viaAdmin {
		if st.Store.OK {
			fmt.Fprintf(tw, "gate's store:\tok\n")
		} else {
			fmt.Fprintf(tw, "gate's store:\tUNREACHABLE (%s); the gate serves its last known state\n", st.Store.LastError)
		}
	}
	return tw.Flush()
}

func printHistory(w io.Writer, es []state.Entry, asJSON bool) error {
	if asJSON {
		if es == nil {
			es = []state.Entry{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(admin.History{Entries: es})
	}
	if len(es) == 0 {
		fmt.Fprintln(w, "no changes recorded")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tSCOPE\tWHO\tVIA\tDETAILS")
	for _, e := range es {
		scope := e.Scope
		if scope == "" {
			scope = "all"
		}
		who := e.Who
		if e.Token != "" && e.Token != e.Who {
			who += " (token " + e.Token + ")"
		}
		via := e.Via
		if e.Addr != "" {
			via += " from " + e.Addr
		}
		var details []string
		if e.Message != "" {
			details = append(details, strconv.Quote(e.Message))
		}
		if !e.Start.IsZero() {
			details = append(details, "start "+e.Start.UTC().Format(time.RFC3339))
		}
		if !e.Until.IsZero() {
			details = append(details, "until "+e.Until.UTC().Format(time.RFC3339))
		}
		if e.Reason != "" {
			details = append(details, "reason "+strconv.Quote(e.Reason))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Event, oneLine(scope), oneLine(who), oneLine(via), strings.Join(details, ", "))
	}
	return tw.Flush()
}

// oneLine keeps a value from breaking the table (or a terminal) with control characters.
func oneLine(s string) string {
	q := strconv.Quote(s)
	if q[1:len(q)-1] == s {
		return s
	}
	return q
}

func when(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d >= 0 {
		return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), d)
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), -d)
}
