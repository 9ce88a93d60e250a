package franking

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

func testContext(c Commitment) Context {
	return Context{
		Commitment:    c,
		Kind:          Direct,
		SenderAccount: [16]byte{0xa1, 1},
		SenderDevice:  3,
		Conversation:  bytes.Repeat([]byte{0xb2}, 16),
		Timestamp:     1_700_000_000_000,
		MessageID:     [16]byte{0x33, 4},
	}
}

func TestTagVerify(t *testing.T) {
	kr, err := GenerateKeyring(detRand(20))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(Commitment{9})
	tag, err := kr.Tag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tag.KeyID() != 1 {
		t.Errorf("key id %d, want 1", tag.KeyID())
	}
	if err := kr.Verify(tag[:], ctx); err != nil {
		t.Fatalf("fresh tag: %v", err)
	}

	// Every field of the context is bound.
	alter := []struct {
		name string
		f    func(*Context)
	}{
		{"commitment", func(c *Context) { c.Commitment[31] ^= 1 }},
		{"kind", func(c *Context) { c.Kind = Group }},
		{"sender account", func(c *Context) { c.SenderAccount[15] ^= 1 }},
		{"sender device", func(c *Context) { c.SenderDevice++ }},
		{"conversation", func(c *Context) { c.Conversation = bytes.Repeat([]byte{0xb3}, 16) }},
		{"conversation length", func(c *Context) { c.Kind, c.Conversation = Group, c.Conversation[:15] }},
		{"timestamp", func(c *Context) { c.Timestamp++ }},
		{"message id", func(c *Context) { c.MessageID[0] ^= 0x80 }},
		{"sender and conversation swapped", func(c *Context) {
			acct := c.SenderAccount
			c.SenderAccount = [16]byte(c.Conversation)
			c.Conversation = acct[:]
		}},
	}
	for _, tc := range alter {
		t.Run(tc.name, func(t *testing.T) {
			bad := ctx
			bad.Conversation = bytes.Clone(ctx.Conversation)
			tc.f(&bad)
			if err := kr.Verify(tag[:], bad); !errors.Is(err, ErrTagMismatch) {
				t.Errorf("got %v, want ErrTagMismatch", err)
			}
		})
	}

	// Every flipped bit of the MAC part is rejected; flipping the key id
	// names an unknown key.
	for i := range tag {
		bad := tag
		bad[i] ^= 0x10
		err := kr.Verify(bad[:], ctx)
		want := ErrTagMismatch
		if i < 4 {
			want = ErrUnknownKey
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d flipped: got %v, want %v", i, err, want)
		}
	}
	for _, n := range []int{0, 4, TagSize - 1, TagSize + 1} {
		b := make([]byte, n)
		copy(b, tag[:])
		if err := kr.Verify(b, ctx); !errors.Is(err, ErrMalformed) {
			t.Errorf("tag of %d bytes: got %v", n, err)
		}
	}
	// Another server's keyring with the same key id does not verify.
	other, _ := GenerateKeyring(detRand(21))
	if err := other.Verify(tag[:], ctx); !errors.Is(err, ErrTagMismatch) {
		t.Errorf("other keyring: got %v", err)
	}
}

func TestTagRejectsInvalidContext(t *testing.T) {
	kr, _ := GenerateKeyring(detRand(22))
	for _, tc := range []struct {
		name string
		ctx  Context
	}{
		{"direct short", Context{Kind: Direct, Conversation: make([]byte, 15)}},
		{"direct long", Context{Kind: Direct, Conversation: make([]byte, 17)}},
		{"group empty", Context{Kind: Group}},
		{"group too long", Context{Kind: Group, Conversation: make([]byte, 256)}},
		{"kind zero", Context{Conversation: make([]byte, 16)}},
		{"kind three", Context{Kind: 3, Conversation: make([]byte, 16)}},
	} {
		if _, err := kr.Tag(tc.ctx); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Tag: got %v", tc.name, err)
		}
		if err := kr.Verify(make([]byte, TagSize), tc.ctx); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Verify: got %v", tc.name, err)
		}
	}
	ok := Context{Kind: Group, Conversation: make([]byte, 255)}
	if _, err := kr.Tag(ok); err != nil {
		t.Errorf("255-byte group id: %v", err)
	}
}

func TestKeyringRotation(t *testing.T) {
	r := detRand(23)
	kr, _ := GenerateKeyring(r)
	ctx := testContext(Commitment{1})
	t1, _ := kr.Tag(ctx)
	id2, err := kr.Rotate(r, 5000)
	if err != nil || id2 != 2 || kr.CurrentID() != 2 {
		t.Fatalf("rotate: id %d, current %d, %v", id2, kr.CurrentID(), err)
	}
	t2, _ := kr.Tag(ctx)
	if t2.KeyID() != 2 || t1 == t2 {
		t.Fatalf("tag after rotation uses key %d", t2.KeyID())
	}
	for _, tag := range []Tag{t1, t2} {
		if err := kr.Verify(tag[:], ctx); err != nil {
			t.Errorf("key %d: %v", tag.KeyID(), err)
		}
	}
	if _, err := kr.Rotate(r, 0); err != nil {
		t.Fatal(err)
	}
	if got := kr.KeyIDs(); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Errorf("KeyIDs %v", got)
	}
	// Key 1 retires at 5000, key 2 at 0 (kept until dropped).
	if dropped := kr.Prune(5000); len(dropped) != 0 {
		t.Errorf("pruned %v at its NotAfter", dropped)
	}
	if dropped := kr.Prune(5001); len(dropped) != 1 || dropped[0] != 1 {
		t.Errorf("pruned %v, want [1]", dropped)
	}
	// An old key epoch that has been dropped no longer verifies.
	if err := kr.Verify(t1[:], ctx); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("dropped epoch: got %v", err)
	}
	if err := kr.Verify(t2[:], ctx); err != nil {
		t.Errorf("retained epoch: %v", err)
	}
	if err := kr.Drop(3); err == nil {
		t.Error("dropped the current key")
	}
	if err := kr.Drop(2); err != nil {
		t.Error(err)
	}
	if err := kr.Verify(t2[:], ctx); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("dropped key 2: got %v", err)
	}
	if err := kr.Drop(2); err == nil {
		t.Error("dropped a missing key")
	}
	if _, err := NewKeyring(TagKey{ID: 1}, TagKey{ID: 1}); err == nil {
		t.Error("duplicate ids accepted")
	}
}

func TestKeyringEncoding(t *testing.T) {
	r := detRand(24)
	kr, _ := GenerateKeyring(r)
	kr.Rotate(r, 77)
	kr.Rotate(r, 0)
	b, err := kr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 4 + 2 + 3*44; len(b) != want {
		t.Errorf("encoding of %d bytes, want %d", len(b), want)
	}
	kr2, err := ParseKeyring(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := kr2.Marshal()
	if !bytes.Equal(b, b2) {
		t.Error("keyring does not round-trip")
	}
	ctx := testContext(Commitment{5})
	tag, _ := kr.Tag(ctx)
	if err := kr2.Verify(tag[:], ctx); err != nil {
		t.Errorf("parsed keyring: %v", err)
	}

	for n := range len(b) {
		if _, err := ParseKeyring(b[:n]); err == nil {
			t.Fatalf("truncated to %d accepted", n)
		}
	}
	bad := func(name string, f func([]byte)) {
		c := bytes.Clone(b)
		f(c)
		if _, err := ParseKeyring(c); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	bad("version", func(c []byte) { c[0] = 2 })
	bad("current missing", func(c []byte) { c[4] = 9 })
	bad("ids out of order", func(c []byte) { c[7+3] = 2 })  // first id 1 -> 2 == second
	bad("ids descending", func(c []byte) { c[7+44+3] = 0 }) // second id 2 -> 0
	if _, err := ParseKeyring(append(bytes.Clone(b), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}

func TestContextEncoding(t *testing.T) {
	for _, ctx := range []Context{
		testContext(Commitment{1, 2, 3}),
		{Kind: Group, Conversation: []byte{1}, Timestamp: 1<<64 - 1, SenderDevice: 1<<32 - 1},
		{Kind: Group, Conversation: bytes.Repeat([]byte{7}, 255)},
	} {
		b, err := ctx.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseContext(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := got.Marshal()
		if !bytes.Equal(b, b2) {
			t.Error("context does not round-trip")
		}
		for n := range len(b) {
			if _, err := ParseContext(b[:n]); err == nil {
				t.Fatalf("truncated to %d accepted", n)
			}
		}
		if _, err := ParseContext(append(b, 0)); err == nil {
			t.Error("trailing byte accepted")
		}
	}
}

// TestTagVector recomputes a tag from docs/PROTOCOL.md (Franking), building the
// context encoding by hand.
func TestTagVector(t *testing.T) {
	key := TagKey{ID: 0x01020304}
	for i := range key.Secret {
		key.Secret[i] = byte(i)
	}
	kr, err := NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(Commitment{0xcc})
	got, err := kr.Tag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("ward/franking/v1/tag")
	msg = append(msg, 1)                    // version
	msg = append(msg, ctx.Commitment[:]...) // commitment
	msg = append(msg, 1)                    // kind: direct
	msg = append(msg, ctx.SenderAccount[:]...)
	msg = append(msg, 0, 0, 0, 3) // sender device
	msg = append(msg, 16)         // conversation length
	msg = append(msg, ctx.Conversation...)
	msg = binary.BigEndian.AppendUint64(msg, ctx.Timestamp)
	msg = append(msg, ctx.MessageID[:]...)
	m := hmac.New(sha256.New, key.Secret[:])
	m.Write(msg)
	want := append([]byte{1, 2, 3, 4}, m.Sum(nil)...)
	if !bytes.Equal(got[:], want) {
		t.Errorf("tag %x, want %x", got, want)
	}
	enc, _ := ctx.Marshal()
	if !bytes.Equal(enc, msg[len("ward/franking/v1/tag"):]) {
		t.Error("context encoding differs from the specification")
	}
}
