package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardchat/ward/client"
)

// Exit statuses (documented in docs/CLI.md and "ward --help").
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// defaultServer is the address "go run ./cmd/wardd" listens on.
const defaultServer = "http://127.0.0.1:8420"

// app is one invocation of ward: its streams, environment and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	server  string
	dataDir string
	json    bool
	debug   bool
}

// run executes ward with args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "ward: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintf(stderr, "ward: %v\n", err)
	return exitError
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "ward",
		Short: "Ward: end-to-end encrypted messaging from the command line",
		Long: `ward is the command-line client of Ward, an end-to-end encrypted messenger.

Each data directory holds one device of one account: its private keys,
sessions and received messages. Use a different --data-dir for each
account (or device) you run on one machine.

Start a server with "go run ./cmd/wardd", then:

  ward --data-dir ~/alice register alice
  ward --data-dir ~/alice listen

Environment:
  WARD_SERVER     server URL (like --server)
  WARD_HOME       data directory (like --data-dir)

Exit status: 0 success, 1 error, 2 usage error (unknown command or flag,
wrong arguments).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", envOr(a.getenv, "WARD_SERVER", defaultServer), "server URL (env WARD_SERVER)")
	pf.StringVar(&a.dataDir, "data-dir", envOr(a.getenv, "WARD_HOME", defaultDataDir(a.getenv)), "this device's state: keys, sessions, messages (env WARD_HOME)")
	pf.BoolVar(&a.json, "json", false, "print results as JSON (one object per line for streams)")
	pf.BoolVar(&a.debug, "debug", false, "log the SDK's diagnostics to standard error")

	root.AddGroup(
		&cobra.Group{ID: "account", Title: "Account and devices:"},
		&cobra.Group{ID: "messages", Title: "Messages:"},
		&cobra.Group{ID: "contacts", Title: "Contacts and safety:"},
	)
	// Later commands (report, requests, accept, decline) join the
	// "contacts" group.
	for _, c := range []*cobra.Command{a.registerCommand(), a.linkCommand(), a.devicesCommand(), a.whoamiCommand()} {
		c.GroupID = "account"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.sendCommand(), a.listenCommand(), a.chatCommand()} {
		c.GroupID = "messages"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.verifyCommand(), a.contactsCommand(), a.blockCommand(true), a.blockCommand(false)} {
		c.GroupID = "contacts"
		root.AddCommand(c)
	}
	return root
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// defaultDataDir is $XDG_DATA_HOME/ward, else ~/.local/share/ward.
func defaultDataDir(getenv func(string) string) string {
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "ward")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".local", "share", "ward")
}

// usageError is a mistake in how ward was called (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// isCobraUsage recognises the usage errors cobra builds itself.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "required flag") ||
		strings.HasPrefix(s, "if any flags in the group") || strings.HasPrefix(s, "none of the others can be")
}

// Argument validators that report usage errors.

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return &usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
		}
		return &usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))}
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{fmt.Errorf("%s needs %s", cmd.CommandPath(), what)}
		}
		return nil
	}
}

func rangeArgs(lo, hi int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return &usageError{fmt.Errorf("%s needs %s", cmd.CommandPath(), what)}
		}
		return nil
	}
}

// hasState reports whether the data directory already holds a client
// database.
func (a *app) hasState() bool {
	_, err := os.Stat(filepath.Join(a.dataDir, "client.db"))
	return err == nil
}

// open opens the client in the data directory. With needAccount it
// refuses, before creating anything, a directory without an account.
func (a *app) open(ctx context.Context, needAccount bool) (*client.Client, error) {
	if needAccount && !a.hasState() {
		return nil, a.noAccount()
	}
	if a.dataDir == "" {
		return nil, &usageError{errors.New("--data-dir is empty")}
	}
	if !strings.HasPrefix(a.server, "http://") && !strings.HasPrefix(a.server, "https://") {
		return nil, &usageError{fmt.Errorf("--server %q must start with http:// or https://", a.server)}
	}
	log := slog.New(slog.DiscardHandler)
	if a.debug {
		log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := client.Open(ctx, client.Config{
		DataDir:    a.dataDir,
		ServerURL:  strings.TrimRight(a.server, "/"),
		Logger:     log,
		HTTPClient: &http.Client{},
	})
	if errors.Is(err, client.ErrDataDirInUse) {
		return nil, fmt.Errorf("another ward command is using %s (e.g. `ward listen`); stop it or use another --data-dir", a.dataDir)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot use the data directory %s: %v", a.dataDir, pe.Err)
		}
		return nil, fmt.Errorf("cannot open the data directory %s: %v", a.dataDir, err)
	}
	if needAccount && c.Handle() == "" {
		c.Close()
		return nil, a.noAccount()
	}
	return c, nil
}

func (a *app) noAccount() error {
	return fmt.Errorf("no account in %s: run `ward register <handle>` first (or `ward link` to add this device to an account you have)", a.dataDir)
}

// checkServer makes one cheap request so that long-running commands
// report an unreachable server at once instead of retrying silently.
func (a *app) checkServer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.server, "/")+"/healthz", nil)
	if err != nil {
		return &usageError{fmt.Errorf("--server %q is not a valid URL", a.server)}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return a.unreachable()
	}
	res.Body.Close()
	return nil
}

func (a *app) unreachable() error {
	return fmt.Errorf("cannot reach the server at %s: is wardd running? (start it with: go run ./cmd/wardd)", a.server)
}

// printJSON writes v as one line of JSON.
func (a *app) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// say prints a line for people: to stdout in text mode, to stderr in JSON
// mode (so that stdout stays machine-readable).
func (a *app) say(format string, args ...any) {
	w := a.stdout
	if a.json {
		w = a.stderr
	}
	fmt.Fprintf(w, format+"\n", args...)
}
