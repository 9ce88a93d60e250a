package client

import (
	"context"
	"testing"

	"github.com/wardchat/ward/identity"
)

// BenchmarkSend measures one Send to a contact with two devices from an
// account with two devices (three session encryptions), against an
// in-process server on SQLite: lookup and list verification, franking,
// fan-out encryption, two local transactions and the server's Send.
func BenchmarkSend(b *testing.B) {
	ts := startServer(b, nil)
	ctx := context.Background()
	a1 := register(b, ts.URL, "alice")
	link(b, a1, "alice-2")
	b1 := register(b, ts.URL, "bob")
	link(b, b1, "bob-2")
	if _, err := a1.Send(ctx, "bob", "warm-up: sessions exist"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := a1.Send(ctx, "bob", "benchmark message of a typical length, about sixty bytes"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContentMarshal(b *testing.B) {
	c := &Content{To: identity.AccountID{1}, Kind: KindText, Text: "benchmark message of a typical length, about sixty bytes"}
	b.ReportAllocs()
	for range b.N {
		if _, err := c.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseContent(b *testing.B) {
	c := &Content{To: identity.AccountID{1}, Kind: KindText, Text: "benchmark message of a typical length, about sixty bytes"}
	enc, err := c.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, err := ParseContent(enc); err != nil {
			b.Fatal(err)
		}
	}
}
