package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Limits that keep a mistyped flag from running away.
const (
	maxAccounts    = 25000
	maxDevices     = 8
	maxMessages    = 5_000_000
	maxConcurrency = 4096
	maxRate        = 200_000
	maxDuration    = 10 * time.Minute
	maxIdle        = 25000
	minSize        = envelopeHeader
	maxSize        = 64 << 10
)

// options are the command-line settings of one run.
type options struct {
	mode        string
	server      string
	spawn       bool
	wardd       string
	accounts    int
	devices     int
	concurrency int
	messages    int
	rate        float64
	duration    time.Duration
	size        int
	idle        int
	hold        time.Duration
	ackEvery    int
	timeout     time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("wardload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "throughput", "throughput, rate or idle")
	fs.StringVar(&o.server, "server", "http://127.0.0.1:8420", "the wardd to load (127.0.0.1 only); ignored with --spawn")
	fs.BoolVar(&o.spawn, "spawn", false, "build and start a wardd of its own (temporary data dir, embedded SQLite, free port)")
	fs.StringVar(&o.wardd, "wardd", "", "wardd binary for --spawn (default: go build ./cmd/wardd)")
	fs.IntVar(&o.accounts, "n", 200, "accounts to register (throughput and rate; idle registers what -k needs)")
	fs.IntVar(&o.devices, "devices", 1, "devices per account")
	fs.IntVar(&o.concurrency, "c", 64, "concurrent senders (and registration workers)")
	fs.IntVar(&o.messages, "m", 200000, "messages to send in throughput mode")
	fs.Float64Var(&o.rate, "rate", 5000, "offered messages per second in rate mode")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long rate mode offers load")
	fs.IntVar(&o.size, "size", 200, "envelope bytes per copy")
	fs.IntVar(&o.idle, "k", 1000, "idle streams to open in idle mode")
	fs.DurationVar(&o.hold, "hold", 5*time.Second, "how long idle mode holds its streams before measuring")
	fs.IntVar(&o.ackEvery, "ack-every", 32, "receivers acknowledge after this many deliveries (and at least every 2 ms)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "upper bound of the whole run")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("wardload: unexpected argument %q", fs.Arg(0))
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	switch o.mode {
	case "throughput", "rate", "idle":
	default:
		errs = append(errs, fmt.Errorf("--mode %q: want throughput, rate or idle", o.mode))
	}
	check(o.devices >= 1 && o.devices <= maxDevices, "--devices must be 1..%d", maxDevices)
	check(o.concurrency >= 1 && o.concurrency <= maxConcurrency, "-c must be 1..%d", maxConcurrency)
	check(o.size >= minSize && o.size <= maxSize, "--size must be %d..%d", minSize, maxSize)
	check(o.ackEvery >= 1 && o.ackEvery <= 512, "--ack-every must be 1..512")
	check(o.timeout > 0 && o.timeout <= time.Hour, "--timeout must be in (0, 1h]")
	check(o.hold >= 0 && o.hold <= maxDuration, "--hold must be 0..%v", maxDuration)
	switch o.mode {
	case "throughput":
		check(o.accounts >= 2 && o.accounts <= maxAccounts, "-n must be 2..%d", maxAccounts)
		check(o.messages >= 1 && o.messages <= maxMessages, "-m must be 1..%d", maxMessages)
	case "rate":
		check(o.accounts >= 2 && o.accounts <= maxAccounts, "-n must be 2..%d", maxAccounts)
		check(o.rate > 0 && o.rate <= maxRate, "--rate must be in (0, %d]", maxRate)
		check(o.duration > 0 && o.duration <= maxDuration, "--duration must be in (0, %v]", maxDuration)
		check(o.rate*o.duration.Seconds() <= maxMessages, "--rate × --duration must be at most %d messages", maxMessages)
		check(o.rate*o.duration.Seconds() >= 1, "--rate × --duration must be at least one message")
	case "idle":
		check(o.idle >= 1 && o.idle <= maxIdle, "-k must be 1..%d", maxIdle)
	}
	if !o.spawn {
		check(isLoopback(o.server), "--server %q: only http://127.0.0.1, http://localhost or http://[::1] targets are allowed", o.server)
	}
	if len(errs) > 0 {
		return fmt.Errorf("wardload: %w", errors.Join(errs...))
	}
	return nil
}

// isLoopback reports whether u is an http URL of a loopback host.
func isLoopback(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" || p.Path != "" && p.Path != "/" {
		return false
	}
	host := p.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit. Calling
// Setrlimit explicitly also makes a spawned wardd inherit the raised limit
// (the Go runtime otherwise restores the original soft limit for children).
func raiseFileLimit(stderr io.Writer) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		fmt.Fprintln(stderr, "wardload: getrlimit:", err)
		return
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		fmt.Fprintln(stderr, "wardload: setrlimit:", err)
	}
}

// fileLimit returns the current soft RLIMIT_NOFILE.
func fileLimit() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	return l.Cur
}

func trimURL(u string) string { return strings.TrimRight(u, "/") }
