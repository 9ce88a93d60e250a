package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/pqxdh"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// hostileProxy is a reverse proxy in front of a real server that can
// rewrite Lookup and FetchBundles responses, as a compromised server would.
type hostileProxy struct {
	URL string

	mu        sync.Mutex
	lookup    func(*wardv1.LookupResponse)
	bundles   func(*wardv1.FetchBundlesResponse)
	cutPuts   int  // blob uploads to interrupt after 1000 bytes
	cutCount  int  // uploads interrupted so far
	failSends bool // answer every Send with unavailable
}

func newHostileProxy(t *testing.T, upstream string) *hostileProxy {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	hp := &hostileProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		// Keep bodies uncompressed so they can be rewritten.
		r.Out.Header.Del("Accept-Encoding")
		r.Out.Header.Del("Connect-Accept-Encoding")
	}}
	rp.ModifyResponse = func(resp *http.Response) error {
		hp.mu.Lock()
		lookup, bundles := hp.lookup, hp.bundles
		hp.mu.Unlock()
		var msg proto.Message
		var rewrite func()
		switch resp.Request.URL.Path {
		case wardv1connect.AccountServiceLookupProcedure:
			if lookup == nil {
				return nil
			}
			m := new(wardv1.LookupResponse)
			msg, rewrite = m, func() { lookup(m) }
		case wardv1connect.KeyServiceFetchBundlesProcedure:
			if bundles == nil {
				return nil
			}
			m := new(wardv1.FetchBundlesResponse)
			msg, rewrite = m, func() { bundles(m) }
		default:
			return nil
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := proto.Unmarshal(body, msg); err != nil {
			t.Errorf("proxy: %v", err)
			return err
		}
		rewrite()
		if body, err = proto.Marshal(msg); err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hp.mu.Lock()
		cut := r.Method == http.MethodPut && hp.cutPuts > 0
		if cut {
			hp.cutPuts--
			hp.cutCount++
		}
		failSend := hp.failSends && r.URL.Path == wardv1connect.MessageServiceSendProcedure
		hp.mu.Unlock()
		if failSend {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"code":"unavailable","message":"down for the test"}`)
			return
		}
		if !cut {
			rp.ServeHTTP(w, r)
			return
		}
		// Forward a truncated body with the full Content-Length: the
		// server sees the upload interrupted mid-stream.
		req, err := http.NewRequest(http.MethodPut, upstream+r.URL.Path, io.LimitReader(r.Body, 1000))
		if err != nil {
			t.Error(err)
			return
		}
		req.ContentLength = r.ContentLength
		req.Header = r.Header.Clone()
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	hp.URL = srv.URL
	return hp
}

func (hp *hostileProxy) set(lookup func(*wardv1.LookupResponse), bundles func(*wardv1.FetchBundlesResponse)) {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	hp.lookup, hp.bundles = lookup, bundles
}

// ghostDevice makes fresh device keys, as an attacker would for a device
// of its own.
func ghostDevice(t *testing.T) *identity.DeviceKeys {
	k, err := identity.GenerateDeviceKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHostileServer(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	hp := newHostileProxy(t, ts.URL)
	bob := register(t, ts.URL, "bob")
	bob.start()
	alice := register(t, hp.URL, "alice")
	alice.start()
	if _, err := alice.Send(ctx, "bob", "first, pins bob's key"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("first message", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) == 1 })
	before, err := alice.SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}

	var realLookup *wardv1.LookupResponse
	hp.set(func(m *wardv1.LookupResponse) {
		if m.GetHandle() == "bob" && realLookup == nil {
			realLookup = proto.Clone(m).(*wardv1.LookupResponse)
		}
	}, nil)
	if _, err := alice.Send(ctx, "bob", "second"); err != nil {
		t.Fatal(err)
	}
	if realLookup == nil {
		t.Fatal("proxy saw no lookup of bob")
	}
	bobAID := bob.AccountID()

	t.Run("ghost device appended to the signed list", func(t *testing.T) {
		// The server adds its own device to bob's list without the AIK.
		g := ghostDevice(t)
		hp.set(func(m *wardv1.LookupResponse) {
			if m.GetHandle() != "bob" {
				return
			}
			sdl, err := identity.ParseSignedDeviceList(m.SignedDeviceList)
			if err != nil {
				t.Fatal(err)
			}
			l, err := identity.ParseDeviceList(sdl.List)
			if err != nil {
				t.Fatal(err)
			}
			l2, err := l.WithDevice(identity.DeviceEntry{DevicePublicKeys: g.Public()})
			if err != nil {
				t.Fatal(err)
			}
			l2.Version = l.Version // keep the version the signature covers
			if sdl.List, err = l2.Marshal(); err != nil {
				t.Fatal(err)
			}
			if m.SignedDeviceList, err = sdl.Marshal(); err != nil {
				t.Fatal(err)
			}
		}, nil)
		_, err := alice.Send(ctx, "bob", "must not go")
		if !errors.Is(err, ErrUntrustedDevice) {
			t.Fatalf("Send with a ghost device in the list = %v, want ErrUntrustedDevice", err)
		}
	})

	t.Run("ghost device bundle for a listed device", func(t *testing.T) {
		// A sender without a session fetches bundles; the server serves
		// keys of its own for bob's device 1.
		carol := register(t, hp.URL, "carol")
		g := ghostDevice(t)
		hp.set(nil, func(m *wardv1.FetchBundlesResponse) {
			for _, b := range m.Bundles {
				pb, err := pqxdh.ParseBundle(b.Bundle)
				if err != nil {
					t.Fatal(err)
				}
				spk, err := pqxdh.NewSignedPrekey(rand.Reader, g.SigningKey(), pb.SignedPrekey.ID)
				if err != nil {
					t.Fatal(err)
				}
				kem, err := pqxdh.NewKEMPrekey(rand.Reader, g.SigningKey(), pb.KEMPrekey.ID, pb.KEMPrekey.LastResort)
				if err != nil {
					t.Fatal(err)
				}
				pb.SigningKey, pb.IdentityKey = g.Public().SigningKey, g.Public().IdentityKey
				pb.SignedPrekey, pb.KEMPrekey = *spk.Public(), *kem.Public()
				if b.Bundle, err = pb.MarshalBinary(); err != nil {
					t.Fatal(err)
				}
			}
		})
		_, err := carol.Send(ctx, "bob", "must not go either")
		if !errors.Is(err, ErrUntrustedDevice) {
			t.Fatalf("Send with a substituted bundle = %v, want ErrUntrustedDevice", err)
		}
	})

	t.Run("device list rollback", func(t *testing.T) {
		hp.set(nil, nil)
		b2 := link(t, bob, "bob-2")
		_ = b2
		if _, err := alice.Send(ctx, "bob", "after bob linked"); err != nil {
			t.Fatal(err)
		}
		old := realLookup.SignedDeviceList
		hp.set(func(m *wardv1.LookupResponse) {
			if m.GetHandle() == "bob" {
				m.SignedDeviceList = old
			}
		}, nil)
		_, err := alice.Send(ctx, "bob", "must not go after rollback")
		if !errors.Is(err, ErrUntrustedDevice) || !strings.Contains(err.Error(), "rollback") {
			t.Fatalf("Send with a rolled-back list = %v, want ErrUntrustedDevice", err)
		}
		alice.waitFor("device added", waitLong, func(evs []Event) bool {
			for _, ev := range evs {
				if d, ok := ev.(*DeviceAddedEvent); ok && d.Account == bobAID && d.Device == 2 && d.Name == "bob-2" {
					return true
				}
			}
			return false
		})
	})

	t.Run("interrupted attachment upload is retried", func(t *testing.T) {
		hp.set(nil, nil)
		hp.mu.Lock()
		hp.cutPuts = 2
		hp.mu.Unlock()
		file := bytes.Repeat([]byte("interrupted upload "), 10000)
		if _, err := alice.SendFile(ctx, "bob", bytes.NewReader(file), "f.bin", "", "retried upload"); err != nil {
			t.Fatal(err)
		}
		hp.mu.Lock()
		if hp.cutCount != 2 {
			t.Fatalf("%d uploads interrupted, want 2", hp.cutCount)
		}
		hp.mu.Unlock()
		evs := bob.waitFor("the attachment", waitLong, func(evs []Event) bool { return count(msgTexts(evs), "retried upload") == 1 })
		var ptrs []*MessageEvent
		for _, ev := range evs {
			if m, ok := ev.(*MessageEvent); ok && m.Text == "retried upload" {
				ptrs = append(ptrs, m)
			}
		}
		var out bytes.Buffer
		if err := bob.DownloadAttachment(ctx, ptrs[0].Attachments[0], &out); err != nil || !bytes.Equal(out.Bytes(), file) {
			t.Fatalf("download after retried upload: %v", err)
		}
	})

	t.Run("substituted identity key", func(t *testing.T) {
		// A message queued while sends fail is given up once bob's
		// identity no longer verifies, and the application is told.
		// alice is offline (no outbox flusher) until the key is swapped.
		alice.stop()
		hp.mu.Lock()
		hp.failSends = true
		hp.mu.Unlock()
		_, qerr := alice.Send(ctx, "bob", "queued, then given up")
		var qe *QueuedError
		if !errors.As(qerr, &qe) {
			t.Fatalf("Send while sends fail = %v, want a QueuedError", qerr)
		}
		evil, err := identity.GenerateAccountKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		g := ghostDevice(t)
		hp.set(func(m *wardv1.LookupResponse) {
			if m.GetHandle() != "bob" {
				return
			}
			l, err := identity.NewDeviceList(bobAID, identity.DeviceEntry{ID: 1, DevicePublicKeys: g.Public()})
			if err != nil {
				t.Fatal(err)
			}
			l.Version = 100
			if m.SignedDeviceList, err = l.Sign(evil); err != nil {
				t.Fatal(err)
			}
			m.AccountKey = evil.Public().Bytes()
		}, nil)
		// Only now may the queued message be retried: it must meet the
		// substituted key.
		hp.mu.Lock()
		hp.failSends = false
		hp.mu.Unlock()
		alice.start()
		_, err = alice.Send(ctx, "bob", "must not go to the impostor")
		if !errors.Is(err, ErrIdentityChanged) {
			t.Fatalf("Send with a substituted AIK = %v, want ErrIdentityChanged", err)
		}
		alice.waitFor("safety number change", waitLong, func(evs []Event) bool {
			for _, ev := range evs {
				if s, ok := ev.(*SafetyNumberChangedEvent); ok && s.Account == bobAID && s.Handle == "bob" {
					return true
				}
			}
			return false
		})
		alice.waitFor("outbox failure", waitLong, func(evs []Event) bool {
			for _, ev := range evs {
				if o, ok := ev.(*OutboxFailedEvent); ok && o.ClientMessageID == qe.ClientMessageID && o.Text == "queued, then given up" {
					return true
				}
			}
			return false
		})
		// Still refused on the next try, and the safety number still
		// shows the pinned key.
		if _, err := alice.Send(ctx, "bob", "again"); !errors.Is(err, ErrIdentityChanged) {
			t.Fatalf("second Send = %v, want ErrIdentityChanged", err)
		}
		same, err := alice.SafetyNumber(ctx, "bob")
		if err != nil || same.Digits() != before.Digits() {
			t.Fatalf("safety number changed before TrustIdentity: %v", err)
		}
		// Contact shows both numbers: the pinned one and the one of the
		// key the server now presents.
		info, err := alice.Contact(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if !info.IdentityChangePending || info.SafetyNumber.Digits() != before.Digits() || info.PendingSafetyNumber == nil || info.PendingSafetyNumber.Digits() == before.Digits() {
			t.Fatalf("Contact during a pending change = %+v", info)
		}
		list, err := alice.Contacts(ctx)
		if err != nil || len(list) != 1 || !list[0].IdentityChangePending || list[0].Handle != "bob" || list[0].PendingSafetyNumber != nil {
			t.Fatalf("Contacts during a pending change = %+v, %v", list, err)
		}
		// The user accepts the new key: the safety number changes to the
		// pending one.
		if err := alice.TrustIdentity(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		after, err := alice.SafetyNumber(ctx, "bob")
		if err != nil || after.Digits() == before.Digits() {
			t.Fatalf("safety number after TrustIdentity unchanged (%v)", err)
		}
		if after.Digits() != info.PendingSafetyNumber.Digits() {
			t.Fatal("the trusted key's safety number differs from the pending one shown before")
		}
		if info, err = alice.Contact(ctx, "bob"); err != nil || info.IdentityChangePending || info.PendingSafetyNumber != nil {
			t.Fatalf("Contact after TrustIdentity = %+v, %v", info, err)
		}
	})

	// Nothing bob should not have seen reached him.
	for _, m := range msgTexts(bob.snapshot()) {
		if m != "first, pins bob's key" && m != "second" && m != "after bob linked" && m != "retried upload" {
			t.Errorf("bob received %q", m)
		}
	}
}
