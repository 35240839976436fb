package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/maintpage/maintpage/internal/cfapi"
)

type routeServiceFlags struct {
	url, name string
}

// newRouteServiceCmd is `maintpage cf route-service on|off|status APP`: the gate in route-service
// mode put in front of an app's HTTP routes with one command, through a user-provided service
// instance and route bindings.
func newRouteServiceCmd(e *env, in terminal, f *cfFlags) *cobra.Command {
	rf := &routeServiceFlags{}
	cmd := &cobra.Command{
		Use:   "route-service",
		Short: "Put the maintpage gate in front of an app's routes as a Cloud Foundry route service, and take it away",
		Long: `Put the maintpage gate (serve with route_service: true, pushed as its own app) in front of an
application's HTTP routes as a Cloud Foundry route service, and take it away again.

"on" creates a user-provided service instance with the gate's URL as its route_service_url (or reuses
one of that name with that URL) in the app's space, and binds it to every HTTP route of the app.
Routes already bound to it are left alone; a route bound to another route service stops the command
before anything changes. "off" unbinds the app's routes and deletes the instance once no route is
bound to it. A failure part-way puts back what the command changed.

` + cfExitCodes("maintpage cf route-service status APP"),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr(errors.New(`"maintpage cf route-service" needs a subcommand: on, off or status`))
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&rf.url, "url", "", "the gate's https URL, which the router sends each request to (needed by on)")
	pf.StringVar(&rf.name, "name", cfapi.DefaultRouteServiceName, "name of the user-provided service instance")
	pf.StringArrayVar(&f.routes, "route", nil, "only this route, as host.domain[/path] (repeatable)")
	pf.BoolVar(&f.dryRun, "dry-run", false, "show the plan and change nothing")
	pf.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation (needed when stdin is not a terminal)")

	run := func(enable bool) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return runRouteService(cmd.Context(), e, in, f, rf, enable, args[0])
		}
	}
	onCmd := &cobra.Command{
		Use:     "on APP",
		Short:   "Bind every HTTP route of APP to the gate as a route service",
		Example: `  maintpage cf route-service on my-app --url https://maintpage-gate.apps.example.com`,
		Args:    exactArgs(1, "APP"), RunE: run(true),
	}
	offCmd := &cobra.Command{
		Use:   "off APP",
		Short: "Unbind APP's routes from the route service, and delete it when no route uses it",
		Args:  exactArgs(1, "APP"), RunE: run(false),
	}
	statusCmd := &cobra.Command{
		Use:   "status APP",
		Short: "Show which route service each HTTP route of APP goes through",
		Args:  exactArgs(1, "APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRouteServiceStatus(cmd.Context(), e, f, rf, args[0])
		},
	}
	cmd.AddCommand(onCmd, offCmd, statusCmd)
	return cmd
}

func runRouteService(ctx context.Context, e *env, in terminal, f *cfFlags, rf *routeServiceFlags, enable bool, app string) error {
	c, err := cfConnect(ctx, e, f)
	if err != nil {
		return err
	}
	p, err := c.PlanRouteService(ctx, cfapi.RouteServiceRequest{App: app, Org: f.org, Space: f.space, Name: rf.name, URL: rf.url, Routes: f.routes}, enable)
	if err != nil {
		return cfExit(err)
	}
	out := e.stdout
	if enable {
		how := "reusing"
		if p.Instance == "" {
			how = "creating"
		}
		fmt.Fprintf(out, "Route %s's HTTP routes through %s (user-provided service %s, %s it) in %s (%s, as %s)\n", app, p.URL, p.Name, how, p.Target, c.API(), c.By())
	} else {
		fmt.Fprintf(out, "Take route service %s off %s's routes in %s (%s, as %s)\n", p.Name, app, p.Target, c.API(), c.By())
	}
	verb := "bind to " + p.Name
	if !enable {
		verb = "unbind from " + p.Name
	}
	for _, ch := range p.Changes {
		fmt.Fprintf(out, "  %s: %s\n", ch.URL, verb)
	}
	for _, d := range p.Done {
		fmt.Fprintf(out, "  %s: %s\n", d.URL, d.Reason)
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(out, "  %s: left alone: %s\n", s.URL, s.Reason)
	}
	switch {
	case !enable && p.Instance == "":
		fmt.Fprintf(out, "There is no service instance %s in %s: nothing to do.\n", p.Name, p.Target)
		return nil
	case !enable && p.DeleteInstance:
		fmt.Fprintf(out, "  then delete service instance %s (no other route uses it)\n", p.Name)
	case !enable && (p.Others > 0 || p.Apps > 0):
		fmt.Fprintf(out, "  service instance %s stays: %d route(s) of other apps and %d app(s) are bound to it\n", p.Name, p.Others, p.Apps)
	}
	if len(p.Changes) == 0 && (enable || !p.DeleteInstance) {
		fmt.Fprintln(out, "Every route is already as asked: nothing to do.")
		return nil
	}
	if ok, err := cfProceed(ctx, in, out, f, len(p.Changes)); !ok {
		return err
	}
	n, deleting := len(p.Changes), p.DeleteInstance
	err = c.ApplyRouteService(ctx, p, func(i int, u string) {
		fmt.Fprintf(out, "  [%d/%d] %s: done\n", i+1, n, u)
	})
	if err != nil {
		return applyFailed(out, err)
	}
	if enable {
		fmt.Fprintf(out, "%s's routes go through %s: %d route(s) bound. To undo: maintpage cf route-service off %s --name %s\n", app, p.URL, n, app, p.Name)
	} else {
		fmt.Fprintf(out, "%s's routes no longer go through %s: %d route(s) unbound.\n", app, p.Name, n)
		if deleting && !p.DeleteInstance {
			fmt.Fprintf(out, "Service instance %s is kept: %d route(s) of other apps and %d app(s) were bound to it meanwhile.\n", p.Name, p.Others, p.Apps)
		}
	}
	return nil
}

func runRouteServiceStatus(ctx context.Context, e *env, f *cfFlags, rf *routeServiceFlags, app string) error {
	c, err := cfConnect(ctx, e, f)
	if err != nil {
		return err
	}
	t, lines, err := c.RouteServiceStatus(ctx, cfapi.RouteServiceRequest{App: app, Org: f.org, Space: f.space, Name: rf.name, URL: rf.url, Routes: f.routes})
	if err != nil {
		return cfExit(err)
	}
	out := e.stdout
	bound := 0
	for _, l := range lines {
		if l.Ours {
			bound++
		}
	}
	fmt.Fprintf(out, "Routes of %s in %s: %d bound to route service %s\n", app, t, bound, rf.name)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROUTE\tROUTE SERVICE\tURL\tNOTE")
	for _, l := range lines {
		svc, via := l.Bound, l.Via
		if svc == "" {
			svc, via = "-", "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", l.URL, svc, via, l.Note)
	}
	return tw.Flush()
}
