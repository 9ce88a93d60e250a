package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/wardchat/ward/client/internal/db"
	"github.com/wardchat/ward/franking"
	"github.com/wardchat/ward/internal/server"
)

// TestOfflineBacklog: a device that was offline receives its backlog, in
// order, when it reconnects; the server's franking tags on the received
// messages verify as a report.
func TestOfflineBacklog(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	alice := register(t, ts.URL, "alice")
	bob := register(t, ts.URL, "bob")
	alice.start()
	// bob stays offline.
	var want []string
	for i := range 25 {
		text := fmt.Sprintf("backlog message %02d", i)
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
		want = append(want, text)
	}
	bob.start()
	evs := bob.waitFor("backlog", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) >= len(want) })
	if got := msgTexts(evs); !slices.Equal(got, want) {
		t.Fatalf("backlog = %q\nwant %q", got, want)
	}
	// Receipts flow back to alice.
	alice.waitFor("receipts", waitLong, func(evs []Event) bool {
		n := 0
		for _, ev := range evs {
			if r, ok := ev.(*DeliveryReceiptEvent); ok {
				n += len(r.MessageIDs)
			}
		}
		return n == len(want)
	})

	// The report of what bob received verifies under the server's keyring:
	// the SDK kept exactly the context the server tagged.
	items, err := bob.ReportMessages(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(want) {
		t.Fatalf("%d report items, want %d", len(items), len(want))
	}
	kr := serverKeyring(t, ts)
	tr, err := franking.VerifyReport(kr, bob.AccountID(), items)
	if err != nil {
		t.Fatalf("VerifyReport: %v", err)
	}
	if len(tr.Items) != len(want) {
		t.Fatalf("transcript has %d items", len(tr.Items))
	}
	// The sender's hash chain has no hole: nothing was sent in between
	// that the report leaves out.
	if !tr.Complete {
		t.Fatalf("transcript not complete:\n%s", tr.Explain())
	}
	// Leaving a message out shows as a gap.
	gapped, err := franking.VerifyReport(kr, bob.AccountID(), append(slices.Clone(items[:10]), items[11:]...))
	if err != nil || gapped.Complete {
		t.Fatalf("report with a message left out: complete=%v, %v", gapped != nil && gapped.Complete, err)
	}
	// A tampered opening is refused.
	items[3].Plaintext = slices.Clone(items[3].Plaintext)
	items[3].Plaintext[len(items[3].Plaintext)-1] ^= 1
	if _, err := franking.VerifyReport(kr, bob.AccountID(), items); err == nil {
		t.Fatal("tampered report verified")
	}
}

// serverKeyring reads the server's franking keyring from its store
// (internal/server/keyring.go, StoredKeyring).
func serverKeyring(t *testing.T, ts *testServer) *franking.Keyring {
	t.Helper()
	v, _, err := ts.Store.Secret(context.Background(), "server/franking-keyring/v1")
	if err != nil {
		t.Fatal(err)
	}
	s := cryptobyte.String(v)
	var ver uint8
	var rotated uint64
	var kb cryptobyte.String
	if !s.ReadUint8(&ver) || !s.ReadUint64(&rotated) || !s.ReadUint24LengthPrefixed(&kb) || !s.Empty() {
		t.Fatal("cannot parse the stored keyring")
	}
	kr, err := franking.ParseKeyring(kb)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestBlock(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	alice := register(t, ts.URL, "alice")
	bob := register(t, ts.URL, "bob")
	alice.start()
	bob.start()
	if _, err := alice.Send(ctx, "bob", "before the block"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("first", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) == 1 })
	if err := bob.Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if info, err := bob.Contact(ctx, "alice"); err != nil || !info.Blocked || info.IdentityChangePending || info.Devices != 1 || info.AccountID != alice.AccountID() {
		t.Fatalf("Contact of a blocked contact = %+v, %v", info, err)
	}
	if list, err := bob.Contacts(ctx); err != nil || len(list) != 1 || list[0].Handle != "alice" || !list[0].Blocked {
		t.Fatalf("Contacts = %+v, %v", list, err)
	}
	if _, err := bob.Send(ctx, "alice", "to a blocked contact"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Send to a blocked contact = %v", err)
	}
	blocked, err := alice.Send(ctx, "bob", "while blocked")
	if err != nil {
		t.Fatal(err)
	}
	// Wait until bob has consumed (and dropped) it before unblocking.
	for deadline := time.Now().Add(waitLong); ; time.Sleep(20 * time.Millisecond) {
		var seen bool
		if err := bob.db.View(ctx, func(tx *db.Tx) error {
			var err error
			seen, err = tx.Seen(blocked.ID[:])
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob never consumed the message sent while blocked")
		}
	}
	if err := bob.Unblock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if info, err := bob.Contact(ctx, "alice"); err != nil || info.Blocked {
		t.Fatalf("Contact after Unblock = %+v, %v", info, err)
	}
	// The blocked message was consumed and dropped; this one is shown.
	if _, err := alice.Send(ctx, "bob", "after unblock"); err != nil {
		t.Fatal(err)
	}
	evs := bob.waitFor("after unblock", waitLong, func(evs []Event) bool { return count(msgTexts(evs), "after unblock") == 1 })
	if count(msgTexts(evs), "while blocked") != 0 {
		t.Fatalf("a message from a blocked contact was shown: %s", describe(evs))
	}
}

func TestAttachments(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	alice := register(t, ts.URL, "alice")
	bob := register(t, ts.URL, "bob")
	alice.start()
	bob.start()
	file := make([]byte, 300<<10+17)
	rand.Read(file)
	if _, err := alice.SendFile(ctx, "bob", bytes.NewReader(file), "photo.jpg", "image/jpeg", "a caption"); err != nil {
		t.Fatal(err)
	}
	evs := bob.waitFor("attachment", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) == 1 })
	var m *MessageEvent
	for _, ev := range evs {
		if e, ok := ev.(*MessageEvent); ok {
			m = e
		}
	}
	if m.Text != "a caption" || len(m.Attachments) != 1 {
		t.Fatalf("message = %+v", m)
	}
	ptr := m.Attachments[0]
	if ptr.FileName != "photo.jpg" || ptr.ContentType != "image/jpeg" || ptr.PlaintextSize != uint64(len(file)) {
		t.Fatalf("pointer = %+v", ptr)
	}
	var out bytes.Buffer
	if err := bob.DownloadAttachment(ctx, ptr, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), file) {
		t.Fatal("downloaded attachment differs")
	}

	// Tamper with the stored blob: the download is refused and nothing is
	// written.
	path := filepath.Join(ts.Dir, "blobs", hex.EncodeToString(ptr.BlobID)[:2], hex.EncodeToString(ptr.BlobID))
	blob, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{0, 40, len(blob) / 2, len(blob) - 1} {
		bad := slices.Clone(blob)
		bad[off] ^= 0x80
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		err := bob.DownloadAttachment(ctx, ptr, &out)
		if !errors.Is(err, ErrAttachment) || out.Len() != 0 {
			t.Fatalf("tampered byte %d: err %v, %d bytes written", off, err, out.Len())
		}
	}
	// A pointer whose digest does not match the blob is refused as well.
	if err := os.WriteFile(path, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := *ptr
	bad.PlaintextDigest[0] ^= 1
	if err := bob.DownloadAttachment(ctx, &bad, &out); !errors.Is(err, ErrAttachment) || out.Len() != 0 {
		t.Fatalf("wrong plaintext digest: %v", err)
	}
}

// TestAttachmentTooLarge: the server's limit is checked before upload.
func TestAttachmentTooLarge(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxBlobBytes = 64 << 10 })
	alice := register(t, ts.URL, "alice")
	register(t, ts.URL, "bob")
	_, err := alice.SendFile(context.Background(), "bob", bytes.NewReader(make([]byte, 100<<10)), "big", "", "")
	if err == nil {
		t.Fatal("oversized attachment accepted")
	}
}

// TestPrekeyRefill: when the server says the one-time prekeys run low, the
// client uploads more; consumed one-time prekeys are deleted locally.
func TestPrekeyRefill(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.PrekeyLowThreshold = 150 })
	ctx := context.Background()
	bob := register(t, ts.URL, "bob")
	counts := func() (otk, kem int) {
		err := bob.db.View(ctx, func(tx *db.Tx) error {
			var err error
			if otk, err = tx.CountPrekeys(db.OneTimePrekey); err != nil {
				return err
			}
			kem, err = tx.CountPrekeys(db.KEMPrekey)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if otk, kem := counts(); otk != OneTimePrekeyBatch || kem != KEMPrekeyBatch+1 {
		t.Fatalf("after registration: %d one-time and %d PQ prekeys", otk, kem)
	}
	bob.start()
	deadline := time.Now().Add(waitLong)
	for otk, _ := counts(); otk < 2*OneTimePrekeyBatch; otk, _ = counts() {
		if time.Now().After(deadline) {
			t.Fatalf("no refill: %d one-time prekeys", otk)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A new session consumes one of each; bob deletes them.
	alice := register(t, ts.URL, "alice")
	if _, err := alice.Send(ctx, "bob", "uses a prekey"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("message", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) == 1 })
	otk, kem := counts()
	if otk != 2*OneTimePrekeyBatch-1 || kem != 2*KEMPrekeyBatch+1-1 {
		t.Fatalf("after one session: %d one-time and %d PQ prekeys", otk, kem)
	}
}

// TestInjectedRandomness: keys and nonces come from Config.Rand, so two
// clients fed the same stream make the same link offer.
func TestInjectedRandomness(t *testing.T) {
	ctx := context.Background()
	offer := func(seed byte) (string, string) {
		var key [32]byte
		key[0] = seed
		c, err := Open(ctx, Config{DataDir: t.TempDir(), ServerURL: "http://127.0.0.1:1", Rand: mathrand.NewChaCha8(key)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o, code, err := c.BeginLink(ctx, "alice", "laptop")
		if err != nil {
			t.Fatal(err)
		}
		return o, code
	}
	o1, c1 := offer(1)
	o2, c2 := offer(1)
	o3, _ := offer(2)
	if o1 != o2 || c1 != c2 {
		t.Fatal("the same randomness gave different offers")
	}
	if o1 == o3 {
		t.Fatal("different randomness gave the same offer")
	}
}

func TestSafetyNumberSymmetric(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	alice := register(t, ts.URL, "alice")
	bob := register(t, ts.URL, "bob")
	a, err := alice.SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bob.SafetyNumber(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.Digits() != b.Digits() || len(a.Digits()) != 60 {
		t.Fatalf("safety numbers differ: %s / %s", a, b)
	}
	if ok, err := a.CompareQR(b.QRPayload()); !ok || err != nil {
		t.Fatalf("QR comparison failed: %v", err)
	}
	carol := register(t, ts.URL, "carol")
	c, err := carol.SafetyNumber(ctx, "bob")
	if err != nil || c.Digits() == a.Digits() {
		t.Fatalf("another pair has the same safety number (%v)", err)
	}
}

// TestLongText: the longest text the SDK accepts fits the server's default
// envelope limit even in a first (PQXDH) message; a longer one is refused
// locally and nothing is queued.
func TestLongText(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	alice := register(t, ts.URL, "alice")
	bob := register(t, ts.URL, "bob")
	bob.start()
	long := strings.Repeat("é", MaxTextSize/2)
	if _, err := alice.Send(ctx, "bob", long); err != nil {
		t.Fatalf("Send of %d bytes: %v", len(long), err)
	}
	bob.waitFor("long text", waitLong, func(evs []Event) bool { return count(msgTexts(evs), long) == 1 })
	_, err := alice.Send(ctx, "bob", long+"x")
	if err == nil || errors.Is(err, ErrQueued) {
		t.Fatalf("over-long text: %v", err)
	}
	err = alice.db.View(ctx, func(tx *db.Tx) error {
		out, err := tx.Outbox()
		if len(out) != 0 {
			t.Errorf("%d messages left in the outbox", len(out))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
