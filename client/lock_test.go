//go:build unix

package client

import (
	"context"
	"errors"
	"testing"
)

// TestDataDirInUse checks that a second Client cannot open a data
// directory that is open, and that Close releases it.
func TestDataDirInUse(t *testing.T) {
	ctx := context.Background()
	cfg := Config{DataDir: t.TempDir(), ServerURL: "http://127.0.0.1:1"}
	first, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if second, err := Open(ctx, cfg); !errors.Is(err, ErrDataDirInUse) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second Open = %v, want ErrDataDirInUse", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	again.Close()
}
