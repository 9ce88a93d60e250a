package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgres runs the API tests against PostgreSQL when
// WARD_TEST_POSTGRES names a server (CI sets it), each in a fresh schema.
func TestPostgres(t *testing.T) {
	base := os.Getenv("WARD_TEST_POSTGRES")
	if base == "" {
		t.Skip("WARD_TEST_POSTGRES not set: PostgreSQL API tests skipped")
	}
	testStoreURL = func(t testing.TB) string { return freshSchema(t, base) }
	defer func() { testStoreURL = nil }()
	for name, f := range map[string]func(*testing.T){
		"SendReceiveAckReconnect": TestSendReceiveAckReconnect,
		"StreamProtocolErrors":    TestStreamProtocolErrors,
		"RegistrationAndAuth":     TestRegistrationAndAuth,
		"InviteOnly":              TestInviteOnly,
		"DeviceListPublish":       TestDeviceListPublish,
		"SuspendedAccount":        TestSuspendedAccount,
		"PrekeysAndBundles":       TestPrekeysAndBundles,
		"SendLimits":              TestSendLimits,
		"QueueTTL":                TestQueueTTL,
		"KeyringRotation":         TestKeyringRotation,
		"Blobs":                   TestBlobs,
		"LargeBacklog":            TestLargeBacklog,
		"RestartKeepsUnacked":     TestRestartKeepsUnacked,
		"CoreErrors":              TestCoreErrors,
		"HostileInput":            TestHostileInput,
		"ConcurrentSendsOrdered":  TestConcurrentSendsOrdered,
		"HandOverWithoutFetch":    TestHandOverWithoutFetch,
		"Keepalive":               TestKeepalive,
	} {
		t.Run(name, f)
	}
}

func freshSchema(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	var b [8]byte
	rand.Read(b[:])
	schema := "ward_server_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
