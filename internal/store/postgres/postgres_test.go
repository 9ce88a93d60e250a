package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/postgres"
	"github.com/wardchat/ward/internal/store/storetest"
)

// serverURL returns WARD_TEST_POSTGRES or skips the test, saying so.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("WARD_TEST_POSTGRES")
	if u == "" {
		t.Skip("WARD_TEST_POSTGRES not set: PostgreSQL contract tests skipped")
	}
	return u
}

// freshSchema creates a schema with a random name, returns a connection
// string whose connections use it as search_path, and drops it (CASCADE)
// when the test ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	base := serverURL(t)
	ctx := context.Background()
	var b [8]byte
	rand.Read(b[:])
	schema := "ward_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect for cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("WARD_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openFresh(t testing.TB, maxDepth int) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: freshSchema(t), MaxQueueDepth: maxDepth})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	serverURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t, storetest.MaxQueueDepth) })
}

// TestReopen: a second Open on a migrated schema is a no-op migration and
// sees the data.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	s, err := postgres.Open(ctx, postgres.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecret(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = postgres.Open(ctx, postgres.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ver, err := s.Secret(ctx, "k"); err != nil || string(v) != "v" || ver != 1 {
		t.Fatalf("Secret after reopen = %q %d %v", v, ver, err)
	}
}

func BenchmarkStore(b *testing.B) {
	serverURL(b)
	// PostgreSQL commits in parallel: let four batches be in flight.
	storetest.Bench(b, store.BatcherConfig{Flushers: 4}, func(b *testing.B, maxDepth int) store.Store { return openFresh(b, maxDepth) })
}
