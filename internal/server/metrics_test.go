package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads a gauge or counter.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func TestStreamGauges(t *testing.T) {
	e := newEnv(t, nil)
	a1, a2, b1, b2 := twoAccounts(t, e)
	m := e.srv.metrics
	s := b1.stream()
	waitFor(t, func() bool { return value(t, m.connections) == 1 })
	for i := range 3 {
		if _, err := a1.sendTo(b1, byte(i), "m", b1, b2, a2); err != nil {
			t.Fatal(err)
		}
	}
	var last uint64
	for range 3 {
		last = s.delivery().Seq
	}
	// The gauge moves just after the write the client has already seen.
	waitFor(t, func() bool { return value(t, m.inflight) == 3 })
	s.ack(last - 1)
	waitFor(t, func() bool { return value(t, m.inflight) == 1 })
	if got := value(t, m.acks); got != 2 {
		t.Fatalf("acked counter = %v, want 2", got)
	}
	s.ws.Close()
	waitFor(t, func() bool { return value(t, m.connections) == 0 })
	if got := value(t, m.inflight); got != 0 {
		t.Fatalf("unacked gauge after close = %v, want 0", got)
	}
	if got := value(t, m.sends.WithLabelValues("ok")); got != 3 {
		t.Fatalf("sends{ok} = %v", got)
	}
	if got := value(t, m.deliveries); got != 3 { // counted before close
		t.Fatalf("deliveries = %v", got)
	}
}
