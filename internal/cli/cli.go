package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command; docs/operating.md documents them.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed (network, Cloud Controller, store …)
	ExitUsage   = 2 // bad flags, arguments or configuration: nothing was changed
)

// Version is set at build time with -ldflags "-X github.com/maintpage/maintpage/internal/cli.Version=…".
var Version = "dev"

// env is what a command may use of the outside world; tests pass their own.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or configuration problem (exit code 2).
func usageErr(err error) error { return &exitError{code: ExitUsage, err: err} }

// withCode marks err with an explicit exit code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// Main runs maintpage with args (without the program name) and returns the process exit code.
// SIGINT and SIGTERM cancel ctx, which stops a server gracefully.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "maintpage: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Anything cobra itself rejects (unknown command or flag, wrong argument count) is a usage error.
	return ExitUsage
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "maintpage",
		Short: "Answer an application's traffic honestly while it is down for maintenance",
		Long: `maintpage answers every request to an application under maintenance with an honest response:
503 with Retry-After and Cache-Control: no-store, an HTML page for browsers, problem JSON for API
clients and plain text for terminals. In front of the application it is a gate that can be switched
on and off without re-routing; "maintpage cf" moves Cloud Foundry routes to it and back, and
"maintpage k8s" does the same for Kubernetes Ingresses, HTTPRoutes and Services.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(
		newServeCmd(e),
		newCheckCmd(e),
		newHealthCmd(e),
		newVersionCmd(e),
		newCFCmd(e),
		newPreviewCmd(e),
		newK8sCmd(e),
	)
	root.AddCommand(newToggleCmds(e)...)
	return root
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.stdout, "maintpage %s\n", Version)
			return nil
		},
	}
}
