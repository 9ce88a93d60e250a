package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

// TestKeepalive: a client that answers pings stays connected; one that
// never reads (so never answers) is closed after the pong wait; and the
// periodic re-check delivers an entry whose bus wake-up was lost.
func TestKeepalive(t *testing.T) {
	testTiming = &timing{pingPeriod: 100 * time.Millisecond, pongWait: 400 * time.Millisecond}
	defer func() { testTiming = nil }()
	e := newEnv(t, nil)
	a := e.newClient("alice").register()
	b := e.newClient("bob").register()
	c := e.newClient("carol").register()

	live := b.stream() // reads continuously, so answers pings
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + "/v1/stream"
	silent, _, err := testDialer.Dial(url, http.Header{"Authorization": {"Ward " + c.token}})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitFor(t, func() bool { return e.srv.localStream(c.addr()) != nil })
	waitFor(t, func() bool { return e.srv.localStream(c.addr()) == nil })
	if e.srv.localStream(b.addr()) == nil {
		t.Fatal("a stream answering pings was closed")
	}

	// Enqueue behind the server's back (no bus event, no hand-over): the
	// next ping round finds it.
	now := time.Now()
	env, _ := (&queued{kind: 1, conversation: b.aid[:], commitment: make([]byte, 32), envelope: []byte("lost wake-up")}).marshal()
	res := e.st.EnqueueBatch(context.Background(), []store.Send{{
		Sender: a.addr(), MessageID: store.MessageID{1}, Timestamp: now, ExpiresAt: now.Add(time.Hour),
		Copies: []store.Copy{{To: b.addr(), Envelope: env, FrankingTag: make([]byte, 36)}},
	}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if d := live.delivery(); string(d.Envelope) != "lost wake-up" {
		t.Fatalf("got %q", d.Envelope)
	}
}
