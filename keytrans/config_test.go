package keytrans

import (
	"errors"
	"testing"
	"time"
)

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	w := newWorld(t, "config")
	good := w.config()
	if _, err := NewVerifier(good); err != nil {
		t.Fatal(err)
	}
	mutate := map[string]func(*VerifierConfig){
		"bad log key":   func(c *VerifierConfig) { c.Log.Key = c.Log.Key[:31] },
		"bad origin":    func(c *VerifierConfig) { c.Log.Origin = "has space" },
		"bad VRF key":   func(c *VerifierConfig) { c.VRFKey = make([]byte, 32) },
		"threshold 0":   func(c *VerifierConfig) { c.Witnesses.Threshold = 0 },
		"no max age":    func(c *VerifierConfig) { c.Freshness.MaxAge = 0 },
		"negative skew": func(c *VerifierConfig) { c.Freshness.MaxSkew = -time.Second },
		"bad witness key": func(c *VerifierConfig) {
			c.Witnesses.Witnesses = []WitnessKey{{Name: "w", Key: make([]byte, 3)}}
			c.Witnesses.Threshold = 1
		},
	}
	for name, m := range mutate {
		c := w.config()
		m(&c)
		if _, err := NewVerifier(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewLogSigner(testOrigin, make([]byte, 31)); err == nil {
		t.Error("short log seed accepted")
	}
	if _, err := NewLogSigner("", make([]byte, 32)); err == nil {
		t.Error("empty origin accepted")
	}
	if _, err := NewCosigner("a b", make([]byte, 32)); err == nil {
		t.Error("bad cosigner name accepted")
	}
	if _, err := NewWitness(w.witnesses[0].Cosigner(), []LogKey{w.logKey(), w.logKey()}); err == nil {
		t.Error("duplicate log accepted")
	}
	if _, err := w.signer.SignCheckpoint(&Checkpoint{Origin: "other.example", Size: 1}); err == nil {
		t.Error("signed a checkpoint for another origin")
	}
}

func TestVerifyHandleLookupMismatch(t *testing.T) {
	w := newWorld(t, "handle-mismatch")
	a := w.newAccount()
	w.publish(a)
	// The log binds "bob" but the value names "eve": the commitment is over
	// the "handle:bob" label, so only the value check can catch it.
	w.appendValue(HandleLabel("bob"), mustMarshal(t, &HandleBinding{Handle: "eve", AccountID: a.aid}), true)
	v := w.verifier()
	st := NewClientState()
	if _, _, err := v.VerifyHandleLookup(st, HandleLabel("bob"), w.lookup(HandleLabel("bob"), st), w.now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	// An account label's response is not a handle response.
	if _, _, err := v.VerifyHandleLookup(st, a.label(), w.lookup(a.label(), st), w.now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := v.VerifyLookup(st, "acct:zz", nil, w.now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}
