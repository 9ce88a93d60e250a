package server

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of wardd. Every field can be set, in
// increasing order of precedence, by the JSON configuration file named with
// -config (or WARD_CONFIG), by an environment variable, and by a command-line
// flag. The zero value is not valid; start from DefaultConfig.
type Config struct {
	// Addr is the host:port the HTTP API, WebSocket stream, console and
	// operational endpoints listen on. Default "127.0.0.1:8420". Port 0 picks a
	// free port; the chosen address is logged and printed at start.
	Addr string `json:"addr" env:"WARD_ADDR" flag:"addr"`

	// DataDir holds the embedded database and the blob store. Created (0700) if
	// missing. Default "ward-data" (relative to the working directory).
	DataDir string `json:"data_dir" env:"WARD_DATA_DIR" flag:"data-dir"`

	// StoreURL selects the database. Empty (the default) means embedded SQLite
	// in DataDir/ward.db. "sqlite:///path/to/file.db" names another SQLite
	// file; "postgres://user@host:5432/db?sslmode=disable" uses PostgreSQL.
	StoreURL string `json:"store_url" env:"WARD_STORE_URL" flag:"store-url"`

	// Registration is "open" (anyone may register) or "invite" (an invite code
	// issued by an administrator is required). Default "open".
	Registration string `json:"registration" env:"WARD_REGISTRATION" flag:"registration"`

	// LogLevel is one of debug, info, warn, error. Default "info". Logs are
	// JSON lines on standard error and never contain plaintext, keys or tokens.
	LogLevel string `json:"log_level" env:"WARD_LOG_LEVEL" flag:"log-level"`

	// MaxEnvelopeBytes bounds one encrypted copy of a message. Default 65536.
	MaxEnvelopeBytes int `json:"max_envelope_bytes" env:"WARD_MAX_ENVELOPE_BYTES" flag:"max-envelope-bytes"`

	// MaxRecipientsPerSend bounds the device copies of one send. Default 64.
	MaxRecipientsPerSend int `json:"max_recipients_per_send" env:"WARD_MAX_RECIPIENTS_PER_SEND" flag:"max-recipients-per-send"`

	// QueueCap is the most undelivered entries one device queue may hold; a
	// send that would exceed it is refused as a whole. Default 10000.
	QueueCap int `json:"queue_cap" env:"WARD_QUEUE_CAP" flag:"queue-cap"`

	// QueueTTL is how long an undelivered entry is kept. Default 720h (30 days).
	QueueTTL time.Duration `json:"queue_ttl" env:"WARD_QUEUE_TTL" flag:"queue-ttl"`

	// SendRate and SendBurst limit sends per account (tokens per second and
	// bucket size). Defaults 50 and 200.
	SendRate  float64 `json:"send_rate" env:"WARD_SEND_RATE" flag:"send-rate"`
	SendBurst int     `json:"send_burst" env:"WARD_SEND_BURST" flag:"send-burst"`

	// AddrRate and AddrBurst limit unauthenticated requests per client IP
	// address (registration, challenges). Defaults 20 and 100.
	AddrRate  float64 `json:"addr_rate" env:"WARD_ADDR_RATE" flag:"addr-rate"`
	AddrBurst int     `json:"addr_burst" env:"WARD_ADDR_BURST" flag:"addr-burst"`

	// MaxBlobBytes bounds one uploaded attachment ciphertext. Default 104857600
	// plus the encryption overhead (see attachment.CiphertextSize).
	MaxBlobBytes int64 `json:"max_blob_bytes" env:"WARD_MAX_BLOB_BYTES" flag:"max-blob-bytes"`

	// BlobRetention is how long an attachment is kept after upload. Default
	// 720h (30 days).
	BlobRetention time.Duration `json:"blob_retention" env:"WARD_BLOB_RETENTION" flag:"blob-retention"`

	// TokenTTL is how long a session token from Authenticate stays valid.
	// Default 24h.
	TokenTTL time.Duration `json:"token_ttl" env:"WARD_TOKEN_TTL" flag:"token-ttl"`

	// PrekeyLowThreshold: when a device has fewer one-time prekeys (of
	// either kind) than this, the server sends it a PrekeysLow frame on its
	// stream. Default 10.
	PrekeyLowThreshold int `json:"prekey_low_threshold" env:"WARD_PREKEY_LOW_THRESHOLD" flag:"prekey-low-threshold"`

	// FrankingRotation is how often the franking tag key rotates. Default
	// 168h (7 days).
	FrankingRotation time.Duration `json:"franking_rotation" env:"WARD_FRANKING_ROTATION" flag:"franking-rotation"`

	// FrankingRetention is how long a retired franking key still verifies
	// reports after it stopped tagging. Default 8760h (365 days).
	FrankingRetention time.Duration `json:"franking_retention" env:"WARD_FRANKING_RETENTION" flag:"franking-retention"`

	// Invites says who may create invite codes with CreateInvite: "admins"
	// (the accounts named in Admins) or "members" (any account). Default
	// "admins". The operator can always create one with "wardd invite".
	Invites string `json:"invites" env:"WARD_INVITES" flag:"invites"`

	// Admins is a comma-separated list of handles of administrator accounts.
	// Default empty.
	Admins string `json:"admins" env:"WARD_ADMINS" flag:"admins"`

	// MaxStreams bounds the delivery streams (WebSocket connections) this
	// node keeps open; beyond it new streams are refused with 503 so the
	// process keeps file descriptors for its other work. Default 19000.
	MaxStreams int `json:"max_streams" env:"WARD_MAX_STREAMS" flag:"max-streams"`

	// SweepInterval is how often expired queue entries, challenges and blobs
	// are deleted and the franking key is checked for rotation. Default 1m.
	SweepInterval time.Duration `json:"sweep_interval" env:"WARD_SWEEP_INTERVAL" flag:"sweep-interval"`

	// ShutdownGrace bounds how long a graceful shutdown waits for in-flight
	// requests. Default 10s.
	ShutdownGrace time.Duration `json:"shutdown_grace" env:"WARD_SHUTDOWN_GRACE" flag:"shutdown-grace"`
}

// DefaultConfig returns the embedded defaults: a working single-node server
// on 127.0.0.1 with SQLite in ./ward-data.
func DefaultConfig() Config {
	return Config{
		Addr:                 "127.0.0.1:8420",
		DataDir:              "ward-data",
		Registration:         "open",
		LogLevel:             "info",
		MaxEnvelopeBytes:     64 << 10,
		MaxRecipientsPerSend: 64,
		QueueCap:             10000,
		QueueTTL:             30 * 24 * time.Hour,
		SendRate:             50,
		SendBurst:            200,
		AddrRate:             20,
		AddrBurst:            100,
		MaxBlobBytes:         100 << 20,
		BlobRetention:        30 * 24 * time.Hour,
		ShutdownGrace:        10 * time.Second,
		TokenTTL:             24 * time.Hour,
		PrekeyLowThreshold:   10,
		FrankingRotation:     7 * 24 * time.Hour,
		FrankingRetention:    365 * 24 * time.Hour,
		Invites:              "admins",
		SweepInterval:        time.Minute,
		MaxStreams:           19000,
	}
}

// Validate reports the first impossible setting, naming the field.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %v", c.Addr, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must not be empty"))
	}
	switch {
	case c.StoreURL == "", strings.HasPrefix(c.StoreURL, "sqlite://"),
		strings.HasPrefix(c.StoreURL, "postgres://"), strings.HasPrefix(c.StoreURL, "postgresql://"):
	default:
		errs = append(errs, fmt.Errorf("store_url %q: want empty (embedded SQLite), sqlite:///path or postgres://host/db", c.StoreURL))
	}
	if c.Registration != "open" && c.Registration != "invite" {
		errs = append(errs, fmt.Errorf("registration %q: want open or invite", c.Registration))
	}
	if c.Invites != "admins" && c.Invites != "members" {
		errs = append(errs, fmt.Errorf("invites %q: want admins or members", c.Invites))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	positive := []struct {
		name string
		v    float64
	}{
		{"max_envelope_bytes", float64(c.MaxEnvelopeBytes)},
		{"max_recipients_per_send", float64(c.MaxRecipientsPerSend)},
		{"queue_cap", float64(c.QueueCap)},
		{"queue_ttl", float64(c.QueueTTL)},
		{"send_rate", c.SendRate},
		{"send_burst", float64(c.SendBurst)},
		{"addr_rate", c.AddrRate},
		{"addr_burst", float64(c.AddrBurst)},
		{"max_blob_bytes", float64(c.MaxBlobBytes)},
		{"blob_retention", float64(c.BlobRetention)},
		{"shutdown_grace", float64(c.ShutdownGrace)},
		{"token_ttl", float64(c.TokenTTL)},
		{"prekey_low_threshold", float64(c.PrekeyLowThreshold)},
		{"franking_rotation", float64(c.FrankingRotation)},
		{"franking_retention", float64(c.FrankingRetention)},
		{"sweep_interval", float64(c.SweepInterval)},
		{"max_streams", float64(c.MaxStreams)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", p.name))
		}
	}
	if c.MaxEnvelopeBytes > 16<<20 {
		errs = append(errs, errors.New("max_envelope_bytes must be at most 16 MiB"))
	}
	if c.FrankingRetention < c.QueueTTL {
		errs = append(errs, errors.New("franking_retention must be at least queue_ttl, or reports of delivered messages could not be verified"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// AdminHandles returns the normalised handles listed in Admins.
func (c *Config) AdminHandles() []string {
	var out []string
	for _, h := range strings.Split(c.Admins, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, strings.ToLower(h))
		}
	}
	return out
}

// SQLitePath returns the SQLite database file the configuration selects, or
// "" when it selects PostgreSQL.
func (c *Config) SQLitePath() string {
	switch {
	case c.StoreURL == "":
		return filepath.Join(c.DataDir, "ward.db")
	case strings.HasPrefix(c.StoreURL, "sqlite://"):
		return strings.TrimPrefix(c.StoreURL, "sqlite://")
	}
	return ""
}

// LoadConfig builds the configuration from the defaults, the file named by
// -config or WARD_CONFIG, the environment (getenv) and the command line args
// (without the program name), in that order of precedence.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("wardd", flag.ContinueOnError)
	configPath := fs.String("config", getenv("WARD_CONFIG"), "JSON configuration `file` (env WARD_CONFIG)")
	// Flags are registered from the struct tags so that every field has one.
	flagVals := map[string]*string{}
	v := reflect.ValueOf(&cfg).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("flag")
		s := new(string)
		flagVals[name] = s
		fs.StringVar(s, name, "", fmt.Sprintf("%s (env %s, default %v)", f.Name, f.Tag.Get("env"), v.Field(i).Interface()))
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	if *configPath != "" {
		data, err := os.ReadFile(*configPath)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		var fc fileConfig
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fc); err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", *configPath, err)
		}
		for name, raw := range fc {
			if err := setField(&cfg, "json", name, raw); err != nil {
				return Config{}, fmt.Errorf("config: %s: %w", *configPath, err)
			}
		}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if s := getenv(f.Tag.Get("env")); s != "" {
			if err := setField(&cfg, "env", f.Tag.Get("env"), s); err != nil {
				return Config{}, fmt.Errorf("config: %w", err)
			}
		}
	}
	var ferr error
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "config" || ferr != nil {
			return
		}
		ferr = setField(&cfg, "flag", fl.Name, *flagVals[fl.Name])
	})
	if ferr != nil {
		return Config{}, fmt.Errorf("config: %w", ferr)
	}
	return cfg, cfg.Validate()
}

// fileConfig keeps every value as a string, number or duration string; JSON
// numbers and strings are both accepted.
type fileConfig map[string]any

func setField(cfg *Config, tag, name string, raw any) error {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get(tag) != name {
			continue
		}
		fv := v.Field(i)
		s := fmt.Sprint(raw)
		if f, ok := raw.(float64); ok {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		}
		switch fv.Interface().(type) {
		case string:
			fv.SetString(s)
		case int, int64:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("%s: %q is not an integer", name, s)
			}
			fv.SetInt(n)
		case float64:
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("%s: %q is not a number", name, s)
			}
			fv.SetFloat(n)
		case time.Duration:
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("%s: %q is not a duration like 30s or 720h", name, s)
			}
			fv.SetInt(int64(d))
		}
		return nil
	}
	return fmt.Errorf("unknown setting %q", name)
}
