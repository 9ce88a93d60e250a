package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/wardchat/ward/franking"
	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/server/blob"
	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/pqxdh"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// testLogWriter sends server logs to t.Logf.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

type testEnv struct {
	t     testing.TB
	cfg   Config
	dir   string
	st    store.Store
	srv   *Server
	http  *httptest.Server
	clock atomic.Int64 // unix ms offset added to the real clock
}

// testTiming, when set, replaces the stream keepalive periods of new
// test environments.
var testTiming *timing

// testWrapStore, when set, wraps the store the server's handlers and
// streams use (the send batcher keeps the real one).
var testWrapStore func(store.Store) store.Store

// testStoreURL, when set, gives each new test environment a StoreURL (a
// fresh PostgreSQL schema); by default environments use SQLite.
var testStoreURL func(t testing.TB) string

// newEnv starts a server on a real SQLite store in a temporary directory
// behind httptest.
func newEnv(t testing.TB, mod func(*Config)) *testEnv {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.SendRate, cfg.SendBurst = 10000, 10000
	cfg.AddrRate, cfg.AddrBurst = 10000, 10000
	if mod != nil {
		mod(&cfg)
	}
	if testStoreURL != nil {
		cfg.StoreURL = testStoreURL(t)
	}
	e := &testEnv{t: t, cfg: cfg, dir: cfg.DataDir}
	ctx := context.Background()
	st, _, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	blobs, err := blob.NewFS(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tm := timing{pingPeriod: defaultPingPeriod, pongWait: defaultPongWait}
	if testTiming != nil {
		tm = *testTiming
	}
	srv, err := newServer(ctx, cfg, log, st, bus.NewLocal(), blobs, tm)
	if err != nil {
		t.Fatal(err)
	}
	if testWrapStore != nil {
		srv.st = testWrapStore(srv.st)
	}
	srv.now = func() time.Time { return time.Now().Add(time.Duration(e.clock.Load()) * time.Millisecond) }
	e.srv = srv
	e.http = httptest.NewServer(srv.Handler())
	t.Cleanup(func() { // the current ones: restart replaces them
		e.srv.BeginShutdown()
		e.http.Close()
		e.srv.Close()
		e.st.Close()
	})
	return e
}

func (e *testEnv) advance(d time.Duration) { e.clock.Add(d.Milliseconds()) }

// client is one device of one account, talking to the server over HTTP.
type client struct {
	t      testing.TB
	e      *testEnv
	handle string
	aid    identity.AccountID
	aik    *identity.AccountKey
	dev    *identity.DeviceKeys
	devID  identity.DeviceID
	list   *identity.DeviceList
	token  string

	lastFranked []byte // franked plaintext of the last sendTo

	accounts wardv1connect.AccountServiceClient
	keys     wardv1connect.KeyServiceClient
	messages wardv1connect.MessageServiceClient
}

func (c *client) addr() store.Address {
	return store.Address{Account: store.AccountID(c.aid), Device: store.DeviceID(c.devID)}
}

func (e *testEnv) newClient(handle string) *client {
	e.t.Helper()
	c := &client{t: e.t, e: e, handle: handle, devID: identity.PrimaryDevice}
	var err error
	if c.aid, err = identity.NewAccountID(rand.Reader); err != nil {
		e.t.Fatal(err)
	}
	if c.aik, err = identity.GenerateAccountKey(rand.Reader); err != nil {
		e.t.Fatal(err)
	}
	if c.dev, err = identity.GenerateDeviceKeys(rand.Reader); err != nil {
		e.t.Fatal(err)
	}
	auth := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if c.token != "" {
				req.Header().Set("Authorization", "Ward "+c.token)
			}
			return next(ctx, req)
		}
	}))
	c.accounts = wardv1connect.NewAccountServiceClient(http.DefaultClient, e.http.URL, auth)
	c.keys = wardv1connect.NewKeyServiceClient(http.DefaultClient, e.http.URL, auth)
	c.messages = wardv1connect.NewMessageServiceClient(http.DefaultClient, e.http.URL, auth)
	return c
}

// linkedDevice returns a second device of c's account (not yet in the
// list; publish a list with it to make it real).
func (c *client) linkedDevice(id identity.DeviceID) *client {
	c.t.Helper()
	d := c.e.newClient(c.handle)
	d.aid, d.aik, d.devID = c.aid, c.aik, id
	return d
}

func (c *client) registerRequest(ctx context.Context) *wardv1.RegisterRequest {
	c.t.Helper()
	var err error
	c.list, err = identity.NewDeviceList(c.aid, identity.DeviceEntry{ID: c.devID, DevicePublicKeys: c.dev.Public()})
	if err != nil {
		c.t.Fatal(err)
	}
	signed, err := c.list.Sign(c.aik)
	if err != nil {
		c.t.Fatal(err)
	}
	ch, err := c.accounts.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: c.aid[:], DeviceId: uint32(c.devID)}))
	if err != nil {
		c.t.Fatal(err)
	}
	pub := c.dev.Public()
	return &wardv1.RegisterRequest{
		Handle:             c.handle,
		AgeBand:            wardv1.AgeBand_AGE_BAND_ADULT,
		AccountId:          c.aid[:],
		AccountKey:         c.aik.Public().Bytes(),
		SignedDeviceList:   signed,
		Device:             &wardv1.DeviceKeys{DeviceId: uint32(c.devID), SigningKey: pub.SigningKey, IdentityKey: pub.IdentityKey.Bytes()},
		Challenge:          ch.Msg.Nonce,
		ChallengeSignature: c.dev.SignChallenge(ch.Msg.Nonce),
	}
}

func (c *client) register() *client {
	c.t.Helper()
	ctx := context.Background()
	if _, err := c.accounts.Register(ctx, connect.NewRequest(c.registerRequest(ctx))); err != nil {
		c.t.Fatalf("register %s: %v", c.handle, err)
	}
	c.login()
	return c
}

func (c *client) login() {
	c.t.Helper()
	ctx := context.Background()
	ch, err := c.accounts.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: c.aid[:], DeviceId: uint32(c.devID)}))
	if err != nil {
		c.t.Fatalf("challenge: %v", err)
	}
	resp, err := c.accounts.Authenticate(ctx, connect.NewRequest(&wardv1.AuthenticateRequest{
		AccountId: c.aid[:], DeviceId: uint32(c.devID), Nonce: ch.Msg.Nonce, Signature: c.dev.SignChallenge(ch.Msg.Nonce),
	}))
	if err != nil {
		c.t.Fatalf("authenticate: %v", err)
	}
	c.token = resp.Msg.Token
}

// publishWith publishes the next device list including the given devices.
func (c *client) publishWith(devs ...*client) error {
	c.t.Helper()
	next := c.list.Clone()
	var err error
	for _, d := range devs {
		if next, err = next.WithDevice(identity.DeviceEntry{ID: d.devID, DevicePublicKeys: d.dev.Public()}); err != nil {
			c.t.Fatal(err)
		}
	}
	return c.publish(next)
}

func (c *client) publish(next *identity.DeviceList) error {
	c.t.Helper()
	signed, err := next.Sign(c.aik)
	if err != nil {
		c.t.Fatal(err)
	}
	_, err = c.accounts.PublishDeviceList(context.Background(), connect.NewRequest(&wardv1.PublishDeviceListRequest{SignedDeviceList: signed}))
	if err == nil {
		c.list = next
	}
	return err
}

type prekeySet struct {
	spk *pqxdh.SignedPrekeyPrivate
	lr  *pqxdh.KEMPrekeyPrivate
	otk []*pqxdh.OneTimePrekeyPrivate
	pq  []*pqxdh.KEMPrekeyPrivate
}

func (c *client) prekeyRequest(n int, firstID uint32) (*wardv1.UploadPrekeysRequest, *prekeySet) {
	c.t.Helper()
	sk := c.dev.SigningKey()
	ps := &prekeySet{}
	var err error
	mustEnc := func(b []byte, err error) []byte {
		if err != nil {
			c.t.Fatal(err)
		}
		return b
	}
	if ps.spk, err = pqxdh.NewSignedPrekey(rand.Reader, sk, 1); err != nil {
		c.t.Fatal(err)
	}
	if ps.lr, err = pqxdh.NewKEMPrekey(rand.Reader, sk, 2, true); err != nil {
		c.t.Fatal(err)
	}
	req := &wardv1.UploadPrekeysRequest{
		SignedPrekey:       &wardv1.Prekey{Id: 1, Key: mustEnc(ps.spk.Public().MarshalBinary())},
		LastResortPqPrekey: &wardv1.Prekey{Id: 2, Key: mustEnc(ps.lr.Public().MarshalBinary())},
	}
	for i := range n {
		id := firstID + uint32(i)
		otk, err := pqxdh.NewOneTimePrekey(rand.Reader, id)
		if err != nil {
			c.t.Fatal(err)
		}
		pq, err := pqxdh.NewKEMPrekey(rand.Reader, sk, id, false)
		if err != nil {
			c.t.Fatal(err)
		}
		ps.otk, ps.pq = append(ps.otk, otk), append(ps.pq, pq)
		req.OneTimePrekeys = append(req.OneTimePrekeys, &wardv1.Prekey{Id: id, Key: mustEnc(otk.Public().MarshalBinary())})
		req.OneTimePqPrekeys = append(req.OneTimePqPrekeys, &wardv1.Prekey{Id: id, Key: mustEnc(pq.Public().MarshalBinary())})
	}
	return req, ps
}

func (c *client) uploadPrekeys(n int) *prekeySet {
	c.t.Helper()
	req, ps := c.prekeyRequest(n, 100)
	if _, err := c.keys.UploadPrekeys(context.Background(), connect.NewRequest(req)); err != nil {
		c.t.Fatalf("upload prekeys: %v", err)
	}
	return ps
}

// sendTo sends one message to the account of to, with a copy for every
// device in devs (recipient's and the sender's other devices).
func (c *client) sendTo(to *client, cmid byte, body string, devs ...*client) (*wardv1.SendResponse, error) {
	c.t.Helper()
	var copies []*wardv1.Copy
	for _, d := range devs {
		copies = append(copies, &wardv1.Copy{AccountId: d.aid[:], DeviceId: uint32(d.devID), Envelope: []byte(body + "@" + fmt.Sprint(d.devID))})
	}
	var cm [16]byte
	cm[0] = cmid
	copy(cm[1:], c.aid[:8])
	pt, com, err := franking.Frank(rand.Reader, []byte(body), franking.Commitment{}, franking.Commitment{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.lastFranked = pt
	resp, err := c.messages.Send(context.Background(), connect.NewRequest(&wardv1.SendRequest{
		ClientMessageId: cm[:], Conversation: to.aid[:], Commitment: com[:], Copies: copies,
	}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// testDialer keeps the test's client ends small, so that the idle-stream
// memory benchmark measures mostly the server.
var testDialer = &websocket.Dialer{ReadBufferSize: 256, WriteBufferSize: 256, HandshakeTimeout: 10 * time.Second}

// wsConn is a test client's delivery stream. A goroutine reads frames into
// a channel (a gorilla read that times out breaks the connection, so the
// helpers time out on the channel instead).
type wsConn struct {
	t      testing.TB
	ws     *websocket.Conn
	frames chan *wardv1.StreamFrame
}

func (c *client) stream() *wsConn {
	c.t.Helper()
	url := "ws" + strings.TrimPrefix(c.e.http.URL, "http") + "/v1/stream"
	ws, resp, err := testDialer.Dial(url, http.Header{"Authorization": {"Ward " + c.token}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		c.t.Fatalf("dial stream: %v (status %d)", err, status)
	}
	w := &wsConn{t: c.t, ws: ws, frames: make(chan *wardv1.StreamFrame, 64)}
	go func() {
		defer close(w.frames)
		for {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f wardv1.StreamFrame
			if typ != websocket.BinaryMessage || proto.Unmarshal(data, &f) != nil {
				f.Frame = &wardv1.StreamFrame_Error{Error: &wardv1.Error{Code: "test: bad frame from server"}}
			}
			w.frames <- &f
		}
	}()
	c.t.Cleanup(func() { ws.Close() })
	return w
}

func (w *wsConn) next() *wardv1.StreamFrame {
	w.t.Helper()
	select {
	case f, ok := <-w.frames:
		if !ok {
			w.t.Fatal("stream closed")
		}
		return f
	case <-time.After(10 * time.Second):
		w.t.Fatal("no frame in 10s")
	}
	return nil
}

// nextNotLow returns the next frame that is not a PrekeysLow notice (the
// server may send one at any time while a device is low).
func (w *wsConn) nextNotLow() *wardv1.StreamFrame {
	w.t.Helper()
	for {
		if f := w.next(); f.GetPrekeysLow() == nil {
			return f
		}
	}
}

// delivery returns the next Delivery, skipping PrekeysLow notices.
func (w *wsConn) delivery() *wardv1.Delivery {
	w.t.Helper()
	for {
		f := w.next()
		if d := f.GetDelivery(); d != nil {
			return d
		}
		if f.GetPrekeysLow() == nil {
			w.t.Fatalf("unexpected frame %v", f)
		}
	}
}

// quiet reports whether no Delivery arrives within d.
func (w *wsConn) quiet(d time.Duration) bool {
	w.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				return true
			}
			if f.GetDelivery() != nil {
				return false
			}
		case <-timeout:
			return true
		}
	}
}

func (w *wsConn) ack(seq uint64) {
	w.t.Helper()
	b, _ := proto.Marshal(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_Ack{Ack: &wardv1.Ack{UpToSeq: seq}}})
	if err := w.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		w.t.Fatal(err)
	}
}

func codeOf(err error) connect.Code { return connect.CodeOf(err) }
