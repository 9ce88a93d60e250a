package server

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/server/blob"
)

// restart stops the server and its store and starts new ones on the same
// data directory, as a process restart would. Clients keep their tokens:
// the token key lives in the store.
func (e *testEnv) restart() {
	e.t.Helper()
	e.srv.BeginShutdown()
	e.http.Close()
	e.srv.Close()
	e.st.Close()
	ctx := context.Background()
	st, _, err := OpenStore(ctx, e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	blobs, _ := blob.NewFS(filepath.Join(e.dir, "blobs"))
	srv, err := New(ctx, e.cfg, slog.New(slog.NewJSONHandler(testLogWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn})), st, bus.NewLocal(), blobs)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st, e.srv = st, srv
	// Same URL is not needed: clients are rebuilt against the new server.
	e.http = httptest.NewServer(srv.Handler())
}

// TestRestartKeepsUnacked: entries delivered but not acknowledged survive a
// restart and are delivered again; acknowledged ones are not; tokens stay
// valid (the MAC key is persisted).
func TestRestartKeepsUnacked(t *testing.T) {
	e := newEnv(t, nil)
	a1, a2, b1, b2 := twoAccounts(t, e)
	s := b1.stream()
	for i := range 3 {
		if _, err := a1.sendTo(b1, byte(i), "m"+string(rune('0'+i)), b1, b2, a2); err != nil {
			t.Fatal(err)
		}
	}
	first := s.delivery()
	s.delivery()
	s.delivery()
	s.ack(first.Seq)
	waitFor(t, func() bool { n, _ := e.st.QueueDepth(context.Background(), b1.addr()); return n == 2 })
	token := b1.token

	e.restart()
	nb := e.newClient("bob")
	nb.aid, nb.dev, nb.devID, nb.token = b1.aid, b1.dev, b1.devID, token
	s2 := nb.stream()
	for _, want := range []string{"m1@1", "m2@1"} {
		if d := s2.delivery(); string(d.Envelope) != want {
			t.Fatalf("after restart got %q, want %q", d.Envelope, want)
		}
	}
	if !s2.quiet(200e6) {
		t.Fatal("an acknowledged entry came back after restart")
	}
}
