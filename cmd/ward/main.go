// Command ward is the Ward command-line client. It sits on the client SDK
// (package client) and keeps one device's state in a data directory.
//
//	ward --data-dir ~/alice register alice
//	ward --data-dir ~/alice listen
//	ward --data-dir ~/bob send alice hello
//
// "ward --help" lists the commands, "ward COMMAND --help" explains one, and
// docs/CLI.md has a walk-through. Exit status: 0 success, 1 error, 2 usage
// (unknown command or flag, wrong number of arguments).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
