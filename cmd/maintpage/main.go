// Command maintpage answers an application's traffic honestly while it is down for maintenance.
package main

import (
	"context"
	"os"

	"github.com/maintpage/maintpage/internal/cli"
)

func main() {
	stopMemoryLimit := cli.SetMemoryLimit(os.Getenv) // the Go runtime's, for the whole process: first
	code := cli.Main(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stopMemoryLimit()
	os.Exit(code)
}
