// Command maintpage answers an application's traffic honestly while it is down for maintenance.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/maintpage/maintpage/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
