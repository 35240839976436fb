package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maintpage/maintpage/internal/kube"
)

// DefaultMaintenanceService is the Service name of the manifests in deploy/kubernetes and the Helm
// chart's default, so that a cluster set up from them needs no --maintenance-service.
const DefaultMaintenanceService = "maintpage"

// ExitK8sIncomplete means a switch failed and some object could not be put back either.
const ExitK8sIncomplete = 3

type k8sFlags struct {
	namespace, context, selector string
	maintenance                  string
	reason                       string
	dryRun, yes                  bool
	timeout                      time.Duration
}

const k8sExitCodes = `Exit codes:
  0  done, or nothing to do (already in maintenance / not in maintenance)
  1  a write failed; every object changed was put back as it was (also: confirmation declined)
  2  nothing was changed: bad flags or arguments, not logged in, an object or the maintenance
     service not found, RBAC refused a verb while planning, an object edited during maintenance,
     or no terminal to confirm and no --yes
  3  a write failed AND some object could not be put back: run "maintpage k8s status", then the
     same command again`

func newK8sCmd(e *env) *cobra.Command { return newK8sCmdWith(e, osStdin{}, nil) }

// newK8sCmdWith lets tests pass stdin and a hook run on the client before it is used.
func newK8sCmdWith(e *env, in terminal, hook func(*kube.Client)) *cobra.Command {
	f := &k8sFlags{}
	cmd := &cobra.Command{
		Use:   "k8s",
		Short: "Switch Kubernetes Ingresses, HTTPRoutes or Services to the maintenance Service and back",
		Long: `Switch Kubernetes Ingresses, Gateway API HTTPRoutes or Services to the maintenance Service and back.

"on" points every backend of an Ingress (rules and default backend) or every rule's backendRefs of
an HTTPRoute at the maintenance Service, or gives a Service the maintenance pods' selector; what was
there is saved on the object in the annotation ` + kube.AnnotationSaved + ` (with when, who and why),
so "off" restores it exactly from any machine. Writes are guarded by resourceVersion: a concurrent
edit is reported, never overwritten. Every change is first checked with the API server's dry run;
if a write fails part-way, the objects already changed are put back.

Login is kubectl's: KUBECONFIG, else ~/.kube/config, else the pod's service account; --context and
-n as in kubectl. The RBAC the command needs is in deploy/kubernetes/rbac/.

` + k8sExitCodes,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr(errors.New(`"maintpage k8s" needs a subcommand: on, off or status (see maintpage k8s --help)`))
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the objects (default: the context's)")
	pf.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current one)")
	pf.StringVarP(&f.selector, "selector", "l", "", "label selector: switch every object of the given kinds that matches")
	pf.DurationVar(&f.timeout, "request-timeout", 30*time.Second, "limit for each API call")

	switchFlags := func(c *cobra.Command) {
		c.Flags().BoolVar(&f.dryRun, "dry-run", false, "show the plan, checked by the API server's dry run, and change nothing")
		c.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation (needed when stdin is not a terminal)")
	}
	onCmd := &cobra.Command{
		Use:   "on KIND/NAME…",
		Short: "Point the objects at the maintenance Service",
		Example: `  maintpage k8s on ingress/shop -n prod
  maintpage k8s on httproute/shop service/shop-internal -n prod --maintenance-service maintpage:http
  maintpage k8s on ingress -l app=shop -n prod --dry-run`,
		Args: minArgs(1, "KIND/NAME…"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runK8sSwitch(cmd.Context(), e, in, hook, f, kube.ToMaintenance, args)
		},
	}
	switchFlags(onCmd)
	onCmd.Flags().StringVar(&f.maintenance, "maintenance-service", DefaultMaintenanceService, "maintenance Service in the same namespace, as NAME[:PORT] (PORT a name or number; default: its only port, or the one named http)")
	onCmd.Flags().StringVar(&f.reason, "reason", "", "why, recorded with when and who")

	offCmd := &cobra.Command{
		Use:     "off KIND/NAME…",
		Short:   "Put back exactly what the objects pointed at before 'on'",
		Example: `  maintpage k8s off ingress/shop -n prod`,
		Args:    minArgs(1, "KIND/NAME…"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runK8sSwitch(cmd.Context(), e, in, hook, f, kube.BackToApp, args)
		},
	}
	switchFlags(offCmd)

	statusCmd := &cobra.Command{
		Use:   "status [KIND/NAME…]",
		Short: "Show which objects are in maintenance, since when and by whom (all of the namespace's without arguments)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runK8sStatus(cmd.Context(), e, hook, f, args)
		},
	}
	cmd.AddCommand(onCmd, offCmd, statusCmd)
	return cmd
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErr(fmt.Errorf("%s takes %s: see %s --help", cmd.CommandPath(), what, cmd.CommandPath()))
		}
		return nil
	}
}

func k8sConnect(e *env, hook func(*kube.Client), f *k8sFlags) (*kube.Client, error) {
	c, err := kube.Connect(kube.Options{Getenv: e.getenv, Context: f.context, Namespace: f.namespace, Timeout: f.timeout})
	if err != nil {
		return nil, usageErr(err)
	}
	if hook != nil {
		hook(c)
	}
	return c, nil
}

func k8sRequest(f *k8sFlags, args []string) (kube.Request, error) {
	req := kube.Request{Selector: f.selector, Why: f.reason}
	req.MaintenanceService, req.MaintenancePort, _ = strings.Cut(f.maintenance, ":")
	for _, a := range args {
		r, err := kube.ParseRef(a, f.selector != "")
		if err != nil {
			return req, usageErr(err)
		}
		req.Targets = append(req.Targets, r)
	}
	return req, nil
}

// k8sExit gives a kube error its exit code.
func k8sExit(err error) error {
	var ae *kube.ApplyError
	var pe *kube.PlanError
	switch {
	case errors.As(err, &ae) && ae.Incomplete():
		return withCode(ExitK8sIncomplete, err)
	case errors.As(err, &ae):
		return withCode(ExitFailure, err)
	case errors.As(err, &pe), errors.Is(err, kube.ErrNotLoggedIn):
		return usageErr(err)
	}
	return withCode(ExitFailure, err)
}

func runK8sSwitch(ctx context.Context, e *env, in terminal, hook func(*kube.Client), f *k8sFlags, dir kube.Direction, args []string) error {
	req, err := k8sRequest(f, args)
	if err != nil {
		return err
	}
	c, err := k8sConnect(e, hook, f)
	if err != nil {
		return err
	}
	var p *kube.Plan
	if dir == kube.ToMaintenance {
		p, err = c.PlanOn(ctx, req)
	} else {
		p, err = c.PlanOff(ctx, req)
	}
	if err != nil {
		return k8sExit(err)
	}
	out := e.stdout
	printK8sPlan(out, c, p)
	if len(p.Changes) == 0 {
		if dir == kube.ToMaintenance {
			fmt.Fprintln(out, "Everything named is already in maintenance: nothing to do.")
		} else {
			fmt.Fprintln(out, "Nothing named is in maintenance: nothing to do.")
		}
		return nil
	}
	if ok, err := proceed(ctx, in, out, f.dryRun, f.yes,
		"Dry run: the API server accepted every change in dry-run mode; nothing was changed.",
		fmt.Sprintf("Switch these %d object(s)?", len(p.Changes))); !ok {
		return err
	}
	n := len(p.Changes)
	err = c.Apply(ctx, p, func(i int, ch kube.Change) {
		fmt.Fprintf(out, "  [%d/%d] %s: done\n", i+1, n, ch.Ref)
	})
	if err != nil {
		var ae *kube.ApplyError
		if errors.As(err, &ae) {
			fmt.Fprintf(out, "  failed: %s\n", ae.Failed)
			for _, r := range ae.RolledBack {
				fmt.Fprintf(out, "  put back: %s\n", r)
			}
			for _, s := range ae.Stuck {
				fmt.Fprintf(out, "  NOT put back: %s\n", s.Ref)
			}
		}
		return k8sExit(err)
	}
	if dir == kube.ToMaintenance {
		fmt.Fprintf(out, "In maintenance: %d object(s) now serve %s. To undo: maintpage k8s off %s -n %s\n", n, p.Maintenance, strings.Join(args, " "), p.Namespace)
	} else {
		fmt.Fprintf(out, "Back: %d object(s) serve what they served before.\n", n)
	}
	return nil
}

func printK8sPlan(out io.Writer, c *kube.Client, p *kube.Plan) {
	if p.Direction == kube.ToMaintenance {
		fmt.Fprintf(out, "Switch to maintenance service %s in namespace %s (%s", p.Maintenance, p.Namespace, c.Host())
		if p.Who != "" {
			fmt.Fprintf(out, ", as %s", p.Who)
		}
		fmt.Fprintln(out, ")")
	} else {
		fmt.Fprintf(out, "Put back what was saved, in namespace %s (%s)\n", p.Namespace, c.Host())
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(p.Changes) > 0 {
		fmt.Fprintln(tw, "  OBJECT\tWHERE\tFROM\t\tTO")
		for _, ch := range p.Changes {
			for _, l := range ch.Lines {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t→\t%s\n", ch.Ref, l.Where, l.From, l.To)
			}
		}
	}
	_ = tw.Flush()
	for _, d := range p.Done {
		fmt.Fprintf(out, "  %s: %s\n", d.Ref, d.Reason)
	}
}

func runK8sStatus(ctx context.Context, e *env, hook func(*kube.Client), f *k8sFlags, args []string) error {
	req, err := k8sRequest(f, args)
	if err != nil {
		return err
	}
	if f.selector != "" && len(args) == 0 {
		req.Targets = nil
	}
	c, err := k8sConnect(e, hook, f)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, req)
	if err != nil {
		return k8sExit(err)
	}
	out := e.stdout
	if len(args) == 0 {
		fmt.Fprintf(out, "Objects in maintenance in namespace %s:\n", c.Namespace())
		if len(st) == 0 {
			fmt.Fprintln(out, "  none")
			return nil
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  OBJECT\tSTATE\tSINCE\tBY\tWHY\tSERVING")
	for _, s := range st {
		state, since, by, why := "live", "-", "-", "-"
		if s.InMaintenance {
			state = "maintenance"
			if !s.Since.IsZero() {
				since = s.Since.Local().Format(time.RFC3339)
				by = s.Who
			}
			if s.Why != "" {
				why = s.Why
			}
			if s.Note != "" {
				why = s.Note
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", s.Ref, state, since, by, why, s.Serving)
	}
	return tw.Flush()
}
