package franking

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"testing"
)

// Each benchmark sits beside a floor: the bare HMAC-SHA256 calls the
// operation cannot avoid, over inputs of the same length, so that one run
// shows the overhead of encoding, parsing and checks.

// floorHMAC computes n HMAC-SHA256s with fresh keys over msgLen bytes.
func floorHMAC(b *testing.B, n, msgLen int) {
	key := make([]byte, 32)
	msg := make([]byte, msgLen)
	var out [32]byte
	b.ReportAllocs()
	for b.Loop() {
		for range n {
			m := hmac.New(sha256.New, key)
			m.Write(msg)
			m.Sum(out[:0])
		}
	}
}

// floorHMACKeyed computes one HMAC-SHA256 over msgLen bytes by resetting an
// already keyed state, as a server does with its long-lived tag key.
func floorHMACKeyed(b *testing.B, msgLen int) {
	m := hmac.New(sha256.New, make([]byte, 32))
	msg := make([]byte, msgLen)
	var out [32]byte
	b.ReportAllocs()
	for b.Loop() {
		m.Reset()
		m.Write(msg)
		m.Sum(out[:0])
	}
}

const benchContent = 100

var commitInputLen = len(commitmentLabel) + 64 + 4 + benchContent

func BenchmarkFrank(b *testing.B) {
	r := detRand(40)
	content := make([]byte, benchContent)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Frank(r, content, Commitment{1}, Commitment{2}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFrankFloor(b *testing.B) { floorHMAC(b, 1, commitInputLen) }

func BenchmarkOpen(b *testing.B) {
	pt, c, _ := Frank(detRand(41), make([]byte, benchContent), Commitment{1}, Commitment{2})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(pt, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenFloor(b *testing.B) { floorHMAC(b, 1, commitInputLen) }

var tagInputLen = len(tagLabel) + testContextSize()

func testContextSize() int { ctx := testContext(Commitment{}); return ctx.size() }

func BenchmarkKeyringTag(b *testing.B) {
	kr, _ := GenerateKeyring(detRand(42))
	ctx := testContext(Commitment{3})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Tag(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyringTagFloor(b *testing.B) { floorHMACKeyed(b, tagInputLen) }

func BenchmarkKeyringVerify(b *testing.B) {
	kr, _ := GenerateKeyring(detRand(43))
	ctx := testContext(Commitment{3})
	tag, _ := kr.Tag(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if err := kr.Verify(tag[:], ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyringVerifyFloor(b *testing.B) { floorHMACKeyed(b, tagInputLen) }

// benchChat is chat with 100-byte contents.
func benchChat(b *testing.B, n int) *world {
	w := newWorld(b, Direct, a1, b1)
	for i := range n {
		from := a1
		if i%3 == 2 {
			from = b1
		}
		w.send(from, fmt.Sprintf("%0100d", i))
	}
	return w
}

func BenchmarkVerifyReport(b *testing.B) {
	for _, n := range []int{5, 50} {
		w := benchChat(b, n)
		items := w.all()
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tr, err := VerifyReport(w.kr, bob, items)
				if err != nil || !tr.Complete {
					b.Fatal(err)
				}
			}
		})
		// Per message: one commitment HMAC under a fresh key (fk) and
		// one tag HMAC under the keyed server key.
		b.Run(fmt.Sprintf("%d-floor", n), func(b *testing.B) {
			key := make([]byte, 32)
			c := make([]byte, commitInputLen)
			tg := make([]byte, tagInputLen)
			server := hmac.New(sha256.New, key)
			var out [32]byte
			b.ReportAllocs()
			for b.Loop() {
				for range n {
					m := hmac.New(sha256.New, key)
					m.Write(c)
					m.Sum(out[:0])
					server.Reset()
					server.Write(tg)
					server.Sum(out[:0])
				}
			}
		})
	}
}
