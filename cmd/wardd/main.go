// Command wardd is the Ward server.
//
// With no flags it serves on 127.0.0.1:8420 with embedded SQLite in
// ./ward-data:
//
//	go run ./cmd/wardd
//
// Every setting can come from a JSON file (-config), the environment
// (WARD_*) or a flag; "wardd -h" lists them and docs/OPERATIONS.md explains
// them. "wardd invite [-uses n] [flags]" prints a new registration invite
// code for invite-only servers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/server"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "wardd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "invite" {
		return invite(ctx, args[1:], stdout, getenv)
	}
	cfg, err := server.LoadConfig(args, getenv)
	if err != nil {
		return err
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("cannot listen on %s: the address is already in use (is another wardd running?); pick another with -addr, e.g. -addr 127.0.0.1:0 for any free port", cfg.Addr)
		}
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()

	st, kind, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := server.OpenBlobs(cfg)
	if err != nil {
		return err
	}
	b := bus.NewLocal()
	defer b.Close()
	srv, err := server.New(ctx, cfg, log, st, b, blobs)
	if err != nil {
		return err
	}
	// HTTP/1.1 for Connect, JSON and the WebSocket; HTTP/2 without TLS
	// (prior knowledge) for gRPC clients and proxies that speak h2c.
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	httpSrv := &http.Server{
		Protocols:         protocols,
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	where := "data: " + cfg.DataDir
	if kind == "postgres" {
		where = "data: " + cfg.DataDir + ", database: PostgreSQL"
	}
	fmt.Fprintf(stdout, "wardd listening on http://%s (%s, store: %s)\n", addr, where, kind)
	log.Info("wardd started", "addr", addr, "data_dir", cfg.DataDir, "store", kind, "registration", cfg.Registration)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		srv.BeginShutdown()
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		err := httpSrv.Shutdown(sctx)
		if cerr := srv.Close(); err == nil {
			err = cerr
		}
		return err
	})
	err = g.Wait()
	log.Info("stopped", "err", err)
	return err
}

// invite creates an invite code directly in the store (operator access).
func invite(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	// -uses and -days belong to the command; every other argument is one
	// of the server's own settings (data directory, store URL).
	fs := flag.NewFlagSet("wardd invite", flag.ContinueOnError)
	uses := fs.Uint("uses", 1, "how many accounts the code admits")
	days := fs.Uint("days", 7, "days until the code expires")
	var own, rest []string
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if strings.HasPrefix(args[i], "-") && (name == "uses" || name == "days") {
			own = append(own, args[i])
			if !hasValue && i+1 < len(args) {
				i++
				own = append(own, args[i])
			}
			continue
		}
		rest = append(rest, args[i])
	}
	if err := fs.Parse(own); err != nil {
		return err
	}
	cfg, err := server.LoadConfig(rest, getenv)
	if err != nil {
		return err
	}
	st, _, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := server.OpenBlobs(cfg)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, cfg, nil, st, bus.NewLocal(), blobs)
	if err != nil {
		return err
	}
	defer srv.Close()
	resp, err := srv.CreateInvite(ctx, nil, &wardv1.CreateInviteRequest{
		Uses: uint32(*uses), ExpiresAtMs: time.Now().Add(time.Duration(*days) * 24 * time.Hour).UnixMilli(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, resp.GetCode())
	return nil
}
