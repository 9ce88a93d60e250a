package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg != DefaultConfig() {
		t.Fatalf("defaults changed by loading: %+v", cfg)
	}
	if got := cfg.SQLitePath(); got != filepath.Join("ward-data", "ward.db") {
		t.Errorf("SQLitePath = %q", got)
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ward.json")
	if err := os.WriteFile(file, []byte(`{"addr":"127.0.0.1:1111","queue_cap":5,"queue_ttl":"2h","send_rate":1.5}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig([]string{"-config", file, "-queue-cap", "7"}, env(map[string]string{
		"WARD_ADDR": "127.0.0.1:2222",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:2222" {
		t.Errorf("env must override file: addr = %q", cfg.Addr)
	}
	if cfg.QueueCap != 7 {
		t.Errorf("flag must override file: queue_cap = %d", cfg.QueueCap)
	}
	if cfg.QueueTTL != 2*time.Hour || cfg.SendRate != 1.5 {
		t.Errorf("file values lost: ttl=%v rate=%v", cfg.QueueTTL, cfg.SendRate)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"no_such_setting": 1}`), 0o600)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-addr", "nonsense"}, nil, "addr"},
		{[]string{"-registration", "maybe"}, nil, "registration"},
		{[]string{"-queue-cap", "0"}, nil, "queue_cap must be positive"},
		{[]string{"-queue-cap", "ten"}, nil, "not an integer"},
		{[]string{"-queue-ttl", "10"}, nil, "not a duration"},
		{nil, map[string]string{"WARD_STORE_URL": "mysql://x"}, "store_url"},
		{[]string{"-config", bad}, nil, "no_such_setting"},
		{[]string{"-config", filepath.Join(dir, "missing.json")}, nil, "missing.json"},
		{[]string{"extra"}, nil, "unexpected argument"},
	} {
		_, err := LoadConfig(tc.args, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadConfig(%q, %v) error = %v, want one mentioning %q", tc.args, tc.env, err, tc.want)
		}
	}
}
