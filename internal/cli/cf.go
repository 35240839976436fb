package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maintpage/maintpage/internal/cfapi"
)

// DefaultMaintenanceApp is the app name in the repository's manifest.yml, so that `cf push
// --no-route` followed by `maintpage cf on APP` needs no flag; a test keeps the two in step.
const DefaultMaintenanceApp = "maintpage"

// ExitCFIncomplete means a switch failed and some route could not be put back either: the operator
// must look (`maintpage cf status`) and run the command again.
const ExitCFIncomplete = 3

// terminal is standard input as the confirmation prompt needs it; tests replace it.
type terminal interface {
	io.Reader
	IsTerminal() bool
}

type osStdin struct{}

func (osStdin) Read(p []byte) (int, error) { return os.Stdin.Read(p) }

// IsTerminal avoids a dependency on x/term: a character device on stdin is a person at a keyboard.
func (osStdin) IsTerminal() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type cfFlags struct {
	org, space     string
	skipSSL        bool
	maintenanceApp string
	routes         []string
	dryRun, yes    bool
}

// cfExitCodes is the exit code text of a cf command whose routes statusCmd shows.
func cfExitCodes(statusCmd string) string {
	return `Exit codes:
  0  done, or nothing to do (already in maintenance / not in maintenance)
  1  a Cloud Controller or UAA call failed; every route changed was put back as it was
     (also: confirmation declined)
  2  usage or setup problem, nothing was changed: bad flags, not logged in, no org/space
     targeted, app or maintenance app not found, --route not a route of the app, or no
     terminal to confirm and no --yes
  3  a call failed AND some route could not be put back: run "` + statusCmd + `",
     then the same command again`
}

func newCFCmd(e *env) *cobra.Command { return newCFCmdWith(e, osStdin{}) }

func newCFCmdWith(e *env, in terminal) *cobra.Command {
	f := &cfFlags{}
	cmd := &cobra.Command{
		Use:   "cf",
		Short: "Switch an app's Cloud Foundry routes to the maintenance app and back",
		Long: `Switch an application's Cloud Foundry routes to the maintenance app and back, through the
Cloud Controller V3 API.

"on" saves each HTTP route's destinations in an annotation on the route, adds the maintenance app,
then removes the others, so no route is ever without a destination; "off" restores the saved
destinations exactly and removes the annotation. If a call fails part-way, the routes already
changed are put back. TCP and internal routes are left alone.

"route-service" puts the maintpage gate in front of the app's routes as a route service instead.

Login is the cf CLI's: $CF_HOME/.cf/config.json (default $HOME/.cf), renewed when expired and
written back there as the cf CLI does. For CI, set CF_API with CF_CLIENT_ID and CF_CLIENT_SECRET,
or with CF_USERNAME and CF_PASSWORD.

` + cfExitCodes("maintpage cf status APP"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr(errors.New(`"maintpage cf" needs a subcommand: on, off, status or route-service (see maintpage cf --help)`))
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.org, "org", "", "org of the app (default: the org targeted with cf target)")
	pf.StringVar(&f.space, "space", "", "space of the app (default: the space targeted with cf target)")
	pf.BoolVar(&f.skipSSL, "skip-ssl-validation", false, "accept any TLS certificate from the API and UAA; only for endpoints you trust")

	// on, off and status take the same flags, so that scripts can pass one set to all three; what
	// a command does not need (status changes nothing) it accepts and ignores.
	switchFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&f.maintenanceApp, "maintenance-app", DefaultMaintenanceApp, "name of the maintenance app in the same space")
		c.Flags().StringArrayVar(&f.routes, "route", nil, "only this route, as host.domain[/path] (repeatable)")
		c.Flags().BoolVar(&f.dryRun, "dry-run", false, "show the plan and change nothing")
		c.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation (needed when stdin is not a terminal)")
	}
	onCmd := &cobra.Command{
		Use:   "on APP",
		Short: "Move every HTTP route of APP to the maintenance app",
		Example: `  cf push --no-route          # once, from the maintpage repository (manifest.yml)
  maintpage cf on my-app
  maintpage cf on my-app --route my-app.example.com --dry-run`,
		Args: exactArgs(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCFSwitch(cmd.Context(), e, in, f, cfapi.ToMaintenance, args[0])
		},
	}
	switchFlags(onCmd)

	offCmd := &cobra.Command{
		Use:     "off APP",
		Short:   "Give APP's routes back exactly the destinations they had before 'on'",
		Example: `  maintpage cf off my-app`,
		Args:    exactArgs(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCFSwitch(cmd.Context(), e, in, f, cfapi.BackToApp, args[0])
		},
	}
	switchFlags(offCmd)

	statusCmd := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show which routes of APP (or of the space) are in maintenance, since when and by whom, and which the maintenance app serves",
		Args:  rangeArgs(0, 1, "[APP]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app := ""
			if len(args) == 1 {
				app = args[0]
			}
			return runCFStatus(cmd.Context(), e, f, app)
		},
	}
	switchFlags(statusCmd)
	cmd.AddCommand(onCmd, offCmd, statusCmd, newRouteServiceCmd(e, in, f))
	return cmd
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return rangeArgs(n, n, what)
}

func rangeArgs(lo, hi int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usageErr(fmt.Errorf("%s takes %s, got %d arguments: see %s --help", cmd.CommandPath(), what, len(args), cmd.CommandPath()))
		}
		return nil
	}
}

func cfConnect(ctx context.Context, e *env, f *cfFlags) (*cfapi.Client, error) {
	c, err := cfapi.Connect(ctx, cfOptions(e, f))
	if err != nil {
		return nil, cfExit(err)
	}
	return c, nil
}

// cfOptions is how the cf commands log in. What goes wrong without stopping the command (a renewed
// login that could not be written back, which leaves the cf CLI with a refresh token the UAA may
// have revoked) is said on stderr: the operator must hear it to run `cf login` before the cf CLI
// fails them later.
func cfOptions(e *env, f *cfFlags) cfapi.Options {
	return cfapi.Options{Getenv: e.getenv, SkipSSLValidation: f.skipSSL, Warn: func(err error) {
		fmt.Fprintf(e.stderr, "maintpage: warning: %v\n", err)
	}}
}

// cfExit gives a cfapi error its exit code.
func cfExit(err error) error {
	var ae *cfapi.ApplyError
	switch {
	case errors.As(err, &ae) && ae.Incomplete():
		return withCode(ExitCFIncomplete, err)
	case errors.Is(err, cfapi.ErrNotLoggedIn), errors.Is(err, cfapi.ErrNoTarget),
		errors.Is(err, cfapi.ErrAppNotFound), errors.Is(err, cfapi.ErrRouteNotFound), errors.Is(err, cfapi.ErrBadRouteService):
		return usageErr(err)
	}
	return withCode(ExitFailure, err)
}

func runCFSwitch(ctx context.Context, e *env, in terminal, f *cfFlags, dir cfapi.Direction, app string) error {
	c, err := cfConnect(ctx, e, f)
	if err != nil {
		return err
	}
	req := cfapi.Request{App: app, MaintenanceApp: f.maintenanceApp, Org: f.org, Space: f.space, Routes: f.routes}
	var p *cfapi.Plan
	if dir == cfapi.ToMaintenance {
		p, err = c.PlanOn(ctx, req)
	} else {
		p, err = c.PlanOff(ctx, req)
	}
	if err != nil {
		return cfExit(err)
	}
	out := e.stdout
	printPlan(out, c, p)
	if len(p.Changes) == 0 {
		if dir == cfapi.ToMaintenance {
			if len(p.Done) > 0 {
				fmt.Fprintf(out, "%s is already in maintenance on every route that can be switched: nothing to do.\n", app)
			} else {
				fmt.Fprintf(out, "%s has no HTTP route to switch: nothing to do.\n", app)
			}
		} else {
			fmt.Fprintf(out, "%s is not in maintenance (no route holds saved destinations for it): nothing to do.\n", app)
		}
		return nil
	}
	if ok, err := cfProceed(ctx, in, out, f, len(p.Changes)); !ok {
		return err
	}
	n := len(p.Changes)
	err = c.Apply(ctx, p, func(i int, ch cfapi.Change) {
		note := ""
		if ch.Note != "" {
			note = " (" + ch.Note + ")"
		}
		fmt.Fprintf(out, "  [%d/%d] %s → %s: done%s\n", i+1, n, ch.URL, ch.To, note)
	})
	if err != nil {
		return applyFailed(out, err)
	}
	if dir == cfapi.ToMaintenance {
		fmt.Fprintf(out, "%s is in maintenance: %d route(s) now serve %s. To undo: maintpage cf off %s\n", app, n, p.Maintenance.Name, app)
	} else {
		fmt.Fprintf(out, "%s is back: %d route(s) serve what they served before.\n", app, n)
	}
	return nil
}

// proceed says whether to change anything after the plan was shown: not on --dry-run (it says
// dryRunNote), and only with --yes or the operator's yes to question. The cf and k8s commands share it.
func proceed(ctx context.Context, in terminal, out io.Writer, dryRun, yes bool, dryRunNote, question string) (bool, error) {
	if dryRun {
		fmt.Fprintln(out, dryRunNote)
		return false, nil
	}
	if !yes {
		if err := confirm(ctx, in, out, question); err != nil {
			return false, err
		}
	}
	return true, nil
}

// cfProceed is proceed for the cf commands, which switch n routes.
func cfProceed(ctx context.Context, in terminal, out io.Writer, f *cfFlags, n int) (bool, error) {
	return proceed(ctx, in, out, f.dryRun, f.yes, "Dry run: nothing was changed.", fmt.Sprintf("Switch these %d route(s)?", n))
}

// applyFailed lists what a failed change put back and what it could not, and gives the exit code.
func applyFailed(out io.Writer, err error) error {
	var ae *cfapi.ApplyError
	if errors.As(err, &ae) {
		for _, u := range ae.RolledBack {
			fmt.Fprintf(out, "  put back: %s\n", u)
		}
		for _, s := range ae.Stuck {
			fmt.Fprintf(out, "  NOT put back: %s\n", s.URL)
		}
	}
	return cfExit(err)
}

func printPlan(out io.Writer, c *cfapi.Client, p *cfapi.Plan) {
	what := "Switch %s to maintenance app %s"
	args := []any{p.App.Name, p.Maintenance.Name}
	if p.Direction == cfapi.BackToApp {
		what, args = "Give %s its routes back", []any{p.App.Name}
	}
	fmt.Fprintf(out, what+" in %s (%s, as %s)\n", append(args, p.Target, c.API(), c.By())...)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(p.Changes) > 0 {
		fmt.Fprintln(tw, "  ROUTE\tFROM\t\tTO")
		for _, ch := range p.Changes {
			note := ""
			if ch.Note != "" {
				note = "   (" + ch.Note + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t→\t%s%s\n", ch.URL, ch.From, ch.To, note)
		}
	}
	_ = tw.Flush()
	// Routes not changed get their own lines, so their long reasons do not widen the plan's columns.
	for _, d := range p.Done {
		fmt.Fprintf(out, "  %s: %s\n", d.URL, d.Reason)
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(out, "  %s: left alone: %s\n", s.URL, s.Reason)
	}
}

// confirm asks question before anything changes. Ctrl-C cancels ctx (signal.NotifyContext in main) and
// counts as "no": a read from a terminal cannot be interrupted, so it runs in a goroutine that ends
// with the next line or end of input, or with the process, which returns soon after a cancel.
func confirm(ctx context.Context, in terminal, out io.Writer, question string) error {
	if !in.IsTerminal() {
		return usageErr(errors.New("not changing anything without confirmation and stdin is not a terminal: pass --yes (or --dry-run to see the plan)"))
	}
	fmt.Fprintf(out, "%s [y/N] ", question)
	type answer struct {
		line string
		err  error
	}
	answered := make(chan answer, 1) // buffered: the reader never waits for a confirm that has returned
	go func() {
		line, err := bufio.NewReader(in).ReadString('\n')
		answered <- answer{line, err}
	}()
	var line string
	select {
	case <-ctx.Done():
		fmt.Fprintln(out)
		return withCode(ExitFailure, fmt.Errorf("aborted, nothing was changed: interrupted at the prompt (%w)", context.Cause(ctx)))
	case a := <-answered:
		if a.err != nil && a.line == "" {
			return withCode(ExitFailure, errors.New("aborted, nothing was changed: no answer"))
		}
		line = a.line
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return withCode(ExitFailure, errors.New("aborted, nothing was changed"))
}

func runCFStatus(ctx context.Context, e *env, f *cfFlags, app string) error {
	c, err := cfConnect(ctx, e, f)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, cfapi.Request{App: app, MaintenanceApp: f.maintenanceApp, Org: f.org, Space: f.space, Routes: f.routes})
	if err != nil {
		return cfExit(err)
	}
	out := e.stdout
	if app == "" {
		fmt.Fprintf(out, "Routes in maintenance or served by the maintenance app in %s:\n", st.Target)
		if len(st.Routes) == 0 {
			fmt.Fprintln(out, "  none")
			return nil
		}
	} else {
		fmt.Fprintf(out, "Routes of %s in %s: %d of %d in maintenance\n", app, st.Target, st.InMaintenance(), len(st.Routes))
		if len(st.Routes) == 0 {
			fmt.Fprintln(out, "  none: the app has no route")
			return nil
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROUTE\tSTATE\tSINCE\tBY\tSERVING\tSAVED / NOTE")
	for _, r := range st.Routes {
		since, by, last := "-", "-", r.Note
		if !r.Since.IsZero() {
			since = r.Since.Local().Format(time.RFC3339)
			by = r.By
		}
		if r.Saved != "" {
			last = "was: " + r.Saved
			if r.Note != "" {
				last += "; " + r.Note
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.URL, r.State, since, by, r.Serving, last)
	}
	return tw.Flush()
}
