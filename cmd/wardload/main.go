// Command wardload is Ward's load generator. It drives a running wardd (or
// one it starts itself) over real HTTP and WebSocket connections and prints
// one JSON line per run on standard output; progress and errors go to
// standard error.
//
// It registers N accounts with real identity keys (package identity: an
// account key, a signed device list, one or more devices each), logs every
// device in with a signed challenge and opens one delivery stream
// (/v1/stream) per device. It then runs one of three modes:
//
//   - throughput: C concurrent senders send M messages as fast as they can.
//     Each message is one Send with one copy per recipient device (and one
//     per other device of the sender); the receivers acknowledge deliveries
//     in batches (Ack up_to_seq). It reports delivered messages per second,
//     end to end, and the delivery latency (just before Send to the frame's
//     arrival on the receiving stream) at p50/p95/p99/max.
//   - rate: an open-loop offered load of R messages/s for a duration, with
//     the same measurements (the p99 < 50 ms at 5,000 msg/s target).
//   - idle: K authenticated streams are opened and held; it reports the
//     server's memory growth per connection.
//
// Envelopes are random bytes of --size (default 200; the first 16 carry the
// message index and the send time, for the receiver's bookkeeping): the
// server never looks inside them, so the load measures the server, not the
// client's cryptography.
//
// With --spawn it builds and starts its own wardd on a temporary data
// directory with embedded SQLite and a free port, raising only the limits a
// load needs (per-account send rate, per-address rate, max streams) on that
// command line; the server's defaults are unchanged. It prints the flags it
// passed in the JSON line ("server_flags").
//
// Examples:
//
//	wardload --spawn --mode throughput -n 200 -c 64 -m 200000
//	wardload --spawn --mode rate --rate 5000 --duration 20s -n 200
//	wardload --spawn --mode idle -k 19900
//	wardload --server http://127.0.0.1:8420 --mode throughput -n 20 -m 10000
//
// Only 127.0.0.1 (or localhost, ::1) targets are accepted, and every run is
// bounded by --timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "wardload:", err)
		os.Exit(1)
	}
}

// run parses args, runs one load and writes its JSON line to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	raiseFileLimit(stderr)
	res, err := execute(ctx, opts, stderr)
	if res != nil {
		if werr := res.write(stdout); err == nil {
			err = werr
		}
	}
	return err
}
