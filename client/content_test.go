package client

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/wardchat/ward/attachment"
	"github.com/wardchat/ward/identity"
)

func testPointer(t testing.TB) *attachment.Pointer {
	var buf bytes.Buffer
	p, err := attachment.Encrypt(&buf, strings.NewReader("file"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.FileName, p.ContentType, p.BlobID = "a.txt", "text/plain", bytes.Repeat([]byte{7}, 32)
	return p
}

func TestContentRoundTrip(t *testing.T) {
	to := identity.AccountID{1, 2, 3}
	ptr := testPointer(t)
	tests := []struct {
		name string
		c    Content
	}{
		{"text", Content{To: to, Kind: KindText, Text: "héllo"}},
		{"empty text", Content{To: to, Kind: KindText}},
		{"attachment", Content{To: to, Kind: KindAttachment, Text: "caption", Attachments: []*attachment.Pointer{ptr, ptr}}},
		{"receipt", Content{To: to, Kind: KindReceipt, Receipts: [][16]byte{{1}, {2}, {3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := tt.c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseContent(enc)
			if err != nil {
				t.Fatal(err)
			}
			enc2, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, enc2) {
				t.Fatal("encode(decode(x)) != x")
			}
			if got.To != to || got.Kind != tt.c.Kind || got.Text != tt.c.Text || len(got.Attachments) != len(tt.c.Attachments) || len(got.Receipts) != len(tt.c.Receipts) {
				t.Fatalf("decoded %+v", got)
			}
			// Trailing bytes, truncation and a wrong version are refused.
			if _, err := ParseContent(append(enc, 0)); err == nil {
				t.Error("trailing byte accepted")
			}
			for n := range enc {
				if _, err := ParseContent(enc[:n]); err == nil {
					t.Errorf("truncation to %d bytes accepted", n)
				}
			}
			bad := bytes.Clone(enc)
			bad[0] = 2
			if _, err := ParseContent(bad); err == nil {
				t.Error("version 2 accepted")
			}
		})
	}
}

func TestContentInvalid(t *testing.T) {
	to := identity.AccountID{1}
	bad := []Content{
		{Kind: KindText, Text: "no destination"},
		{To: to, Kind: 9},
		{To: to, Kind: KindText, Text: "\xff"},
		{To: to, Kind: KindText, Text: strings.Repeat("a", MaxTextSize+1)},
		{To: to, Kind: KindAttachment},
		{To: to, Kind: KindReceipt},
		{To: to, Kind: KindText, Receipts: [][16]byte{{1}}},
	}
	for i, c := range bad {
		if _, err := c.Marshal(); err == nil {
			t.Errorf("case %d: Marshal accepted %+v", i, c)
		}
	}
	raw := [][]byte{
		nil,
		{1},
		append(append([]byte{1}, make([]byte, 16)...), 1, 0, 0, 0),                  // zero destination
		append(append([]byte{1}, bytes.Repeat([]byte{1}, 16)...), 7),                // unknown kind
		append(append([]byte{1}, bytes.Repeat([]byte{1}, 16)...), 3, 0, 0),          // receipt without ids
		append(append([]byte{1}, bytes.Repeat([]byte{1}, 16)...), 3, 0, 3, 1, 2, 3), // ids not a multiple of 16
		append(append([]byte{1}, bytes.Repeat([]byte{1}, 16)...), 1, 0, 0, 1, 0xff), // invalid UTF-8
	}
	for i, b := range raw {
		if _, err := ParseContent(b); err == nil {
			t.Errorf("raw case %d accepted", i)
		}
	}
}

func TestLinkApprovalRoundTrip(t *testing.T) {
	aik, err := identity.GenerateAccountKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &linkApproval{aid: identity.AccountID{9}, aik: aik.Public(), device: 2, handle: "alice"}
	got, err := parseLinkApproval(a.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.aid != a.aid || !got.aik.Equal(a.aik) || got.device != 2 || got.handle != "alice" {
		t.Fatalf("got %+v", got)
	}
	for _, s := range []string{"", "!!", a.marshal() + "A", (&linkApproval{aid: a.aid, aik: a.aik, device: 1, handle: "x"}).marshal()} {
		if _, err := parseLinkApproval(s); err == nil {
			t.Errorf("approval %q accepted", s)
		}
	}
}

func FuzzParseContent(f *testing.F) {
	to := identity.AccountID{1, 2, 3}
	for _, c := range []Content{
		{To: to, Kind: KindText, Text: "hi"},
		{To: to, Kind: KindReceipt, Receipts: [][16]byte{{1}}},
		{To: to, Kind: KindAttachment, Attachments: []*attachment.Pointer{testPointer(f)}},
	} {
		enc, err := c.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseContent(b)
		if err != nil {
			return
		}
		enc, err := c.Marshal()
		if err != nil {
			t.Fatalf("parsed content does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatal("encode(decode(x)) != x")
		}
	})
}

func FuzzParseLinkApproval(f *testing.F) {
	aik, err := identity.GenerateAccountKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Add((&linkApproval{aid: identity.AccountID{9}, aik: aik.Public(), device: 2, handle: "alice"}).marshal())
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseLinkApproval(s)
		if err != nil {
			return
		}
		b, err := parseLinkApproval(a.marshal())
		if err != nil || b.aid != a.aid || !b.aik.Equal(a.aik) || b.device != a.device || b.handle != a.handle {
			t.Fatalf("approval does not round-trip: %v", err)
		}
	})
}
