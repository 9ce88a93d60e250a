package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// TestCoreErrors calls the core methods directly (no HTTP) and checks the
// typed errors they return.
func TestCoreErrors(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.newClient("alice").register()
	b := e.newClient("bob").register()
	s := e.srv
	var unknown store.AccountID
	unknown[0] = 0xee

	for _, tc := range []struct {
		name string
		call func() error
		code Code
	}{
		{"lookup unknown handle", func() error {
			_, err := s.Lookup(ctx, a.addr(), &wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: "nobody"}})
			return err
		}, CodeNotFound},
		{"lookup nothing", func() error { _, err := s.Lookup(ctx, a.addr(), &wardv1.LookupRequest{}); return err }, CodeInvalid},
		{"fetch bundles of unknown account", func() error {
			_, err := s.FetchBundles(ctx, a.addr(), &wardv1.FetchBundlesRequest{AccountId: unknown[:]})
			return err
		}, CodeNotFound},
		{"fetch bundles of unknown device", func() error {
			_, err := s.FetchBundles(ctx, a.addr(), &wardv1.FetchBundlesRequest{AccountId: b.aid[:], DeviceIds: []uint32{5}})
			return err
		}, CodeNotFound},
		{"fetch bundles before upload", func() error {
			_, err := s.FetchBundles(ctx, a.addr(), &wardv1.FetchBundlesRequest{AccountId: b.aid[:]})
			return err
		}, CodeNotFound},
		{"upload by unknown device", func() error {
			_, err := s.UploadPrekeys(ctx, store.Address{Account: unknown, Device: 1}, &wardv1.UploadPrekeysRequest{})
			return err
		}, CodePermission},
		{"too many one-time prekeys", func() error {
			req := &wardv1.UploadPrekeysRequest{OneTimePrekeys: make([]*wardv1.Prekey, MaxPrekeysPerUpload+1)}
			_, err := s.UploadPrekeys(ctx, a.addr(), req)
			return err
		}, CodeExhausted},
		{"send to self with no other device", func() error {
			_, err := s.Send(ctx, a.addr(), &wardv1.SendRequest{ClientMessageId: make([]byte, 16), Conversation: a.aid[:], Commitment: make([]byte, 32),
				Copies: []*wardv1.Copy{{AccountId: a.aid[:], DeviceId: 1, Envelope: []byte("x")}}})
			return err
		}, CodeFailedPrecondition},
		{"challenge for device 0", func() error {
			_, err := s.Challenge(ctx, &wardv1.ChallengeRequest{AccountId: a.aid[:]})
			return err
		}, CodeInvalid},
		{"challenge for an unlisted device of an existing account", func() error {
			_, err := s.Challenge(ctx, &wardv1.ChallengeRequest{AccountId: a.aid[:], DeviceId: 7})
			return err
		}, CodeNotFound},
		{"put to unknown blob", func() error {
			_, err := s.PutBlob(ctx, a.addr(), store.BlobID{1}, nil)
			return err
		}, CodeNotFound},
		{"publish by unknown device", func() error {
			_, err := s.PublishDeviceList(ctx, store.Address{Account: store.AccountID(a.aid), Device: 9}, &wardv1.PublishDeviceListRequest{SignedDeviceList: []byte{1}})
			return err
		}, CodePermission},
	} {
		err := tc.call()
		var se *Error
		if !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
}

// TestLargeBacklog: a backlog larger than the stream window is delivered
// completely and in order as the device acknowledges.
func TestLargeBacklog(t *testing.T) {
	e := newEnv(t, nil)
	a := e.newClient("alice").register()
	b := e.newClient("bob").register()
	const n = streamWindow + 300
	for i := range n {
		var cm [16]byte
		cm[0], cm[1] = byte(i>>8), byte(i)
		_, err := e.srv.Send(context.Background(), a.addr(), &wardv1.SendRequest{ClientMessageId: cm[:], Conversation: b.aid[:], Commitment: make([]byte, 32),
			Copies: []*wardv1.Copy{{AccountId: b.aid[:], DeviceId: 1, Envelope: []byte(fmt.Sprint(i))}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	s := b.stream()
	var last uint64
	read := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			d := s.delivery()
			if string(d.Envelope) != fmt.Sprint(i) || d.Seq <= last {
				t.Fatalf("delivery %d: seq %d envelope %q (previous seq %d)", i, d.Seq, d.Envelope, last)
			}
			last = d.Seq
		}
	}
	read(0, streamWindow)
	// The window is full: nothing more until the device acknowledges.
	if !s.quiet(300 * time.Millisecond) {
		t.Fatal("the server pushed past the window")
	}
	s.ack(last)
	read(streamWindow, n)
	s.ack(last)
	waitFor(t, func() bool { d, _ := e.st.QueueDepth(context.Background(), b.addr()); return d == 0 })
}
