package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/gorilla/websocket"

	"github.com/wardchat/ward/identity"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// account is one registered account of the load and its devices.
type account struct {
	aid  identity.AccountID
	devs []*device
}

// device is one logged-in device.
type device struct {
	acct  *account
	id    identity.DeviceID
	keys  *identity.DeviceKeys
	token string
}

// api holds the Connect clients of one target.
type api struct {
	base     string
	hc       *http.Client
	accounts wardv1connect.AccountServiceClient
	messages wardv1connect.MessageServiceClient
}

func newAPI(base string, hc *http.Client) *api {
	return &api{
		base:     base,
		hc:       hc,
		accounts: wardv1connect.NewAccountServiceClient(hc, base),
		messages: wardv1connect.NewMessageServiceClient(hc, base),
	}
}

// errorCounts counts errors by kind.
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errorCounts) add(kind string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[kind]++
	e.mu.Unlock()
}

func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// kindOf names an RPC error for the error counts: the Connect code.
func kindOf(op string, err error) string {
	if code := connect.CodeOf(err); code != connect.CodeUnknown {
		return op + "_" + code.String()
	}
	if strings.Contains(err.Error(), "deadline") || strings.Contains(err.Error(), "timeout") {
		return op + "_timeout"
	}
	return op + "_transport"
}

// register creates account number i with devices devices, each logged in
// with a signed challenge. The handle is "load" + run + index.
func (a *api) register(ctx context.Context, run string, i, devices int) (*account, error) {
	acct := &account{}
	var err error
	if acct.aid, err = identity.NewAccountID(rand.Reader); err != nil {
		return nil, err
	}
	aik, err := identity.GenerateAccountKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var list *identity.DeviceList
	for d := 1; d <= devices; d++ {
		keys, err := identity.GenerateDeviceKeys(rand.Reader)
		if err != nil {
			return nil, err
		}
		dev := &device{acct: acct, id: identity.DeviceID(d), keys: keys}
		acct.devs = append(acct.devs, dev)
		entry := identity.DeviceEntry{ID: dev.id, DevicePublicKeys: keys.Public()}
		if d == 1 {
			list, err = identity.NewDeviceList(acct.aid, entry)
		} else {
			list, err = list.WithDevice(entry)
		}
		if err != nil {
			return nil, err
		}
	}
	signed, err := list.Sign(aik)
	if err != nil {
		return nil, err
	}
	primary := acct.devs[0]
	ch, err := a.accounts.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: acct.aid[:], DeviceId: uint32(primary.id)}))
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	pub := primary.keys.Public()
	_, err = a.accounts.Register(ctx, connect.NewRequest(&wardv1.RegisterRequest{
		Handle:             fmt.Sprintf("load%s%d", run, i),
		AgeBand:            wardv1.AgeBand_AGE_BAND_ADULT,
		AccountId:          acct.aid[:],
		AccountKey:         aik.Public().Bytes(),
		SignedDeviceList:   signed,
		Device:             &wardv1.DeviceKeys{DeviceId: uint32(primary.id), SigningKey: pub.SigningKey, IdentityKey: pub.IdentityKey.Bytes()},
		Challenge:          ch.Msg.Nonce,
		ChallengeSignature: primary.keys.SignChallenge(ch.Msg.Nonce),
	}))
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	for _, dev := range acct.devs {
		if err := a.login(ctx, dev); err != nil {
			return nil, err
		}
	}
	return acct, nil
}

// login runs Challenge and Authenticate for dev and keeps its token.
func (a *api) login(ctx context.Context, dev *device) error {
	ch, err := a.accounts.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: dev.acct.aid[:], DeviceId: uint32(dev.id)}))
	if err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	resp, err := a.accounts.Authenticate(ctx, connect.NewRequest(&wardv1.AuthenticateRequest{
		AccountId: dev.acct.aid[:], DeviceId: uint32(dev.id), Nonce: ch.Msg.Nonce, Signature: dev.keys.SignChallenge(ch.Msg.Nonce),
	}))
	if err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	dev.token = resp.Msg.Token
	return nil
}

// registerAll registers n accounts with workers concurrent workers. A
// failed registration is retried up to three times (with backoff) when the
// server says unavailable or resource_exhausted; any other failure ends the
// run, since the load needs every account.
func (a *api) registerAll(ctx context.Context, n, devices, workers int, errs *errorCounts, stderr io.Writer) ([]*account, error) {
	var runb [4]byte
	rand.Read(runb[:])
	run := hex.EncodeToString(runb[:])
	accts := make([]*account, n)
	var next, done atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopProgress := progress(stderr, "registered", &done, int64(n))
	defer stopProgress()
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				var err error
				for attempt := 0; ; attempt++ {
					rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
					accts[i], err = a.register(rctx, run, i, devices)
					rcancel()
					if err == nil {
						break
					}
					errs.add(kindOf("register", err))
					code := connect.CodeOf(err)
					if attempt == 3 || (code != connect.CodeUnavailable && code != connect.CodeResourceExhausted) || ctx.Err() != nil {
						break
					}
					time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("wardload: account %d: %w", i, err); cancel() })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wardload: registration: %w", err)
	}
	return accts, nil
}

// progress prints "what: done/total" to stderr every 2 s until stopped.
func progress(stderr io.Writer, what string, done *atomic.Int64, total int64) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprintf(stderr, "wardload: %s %d/%d in %.1fs\n", what, done.Load(), total, time.Since(start).Seconds())
				return
			case <-t.C:
				fmt.Fprintf(stderr, "wardload: %s %d/%d\n", what, done.Load(), total)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// dialStream opens dev's delivery stream.
func dialStream(ctx context.Context, d *websocket.Dialer, base string, dev *device) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/stream"
	ws, resp, err := d.DialContext(ctx, u, http.Header{"Authorization": {"Ward " + dev.token}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial_http_%d", resp.StatusCode)
		}
		return nil, fmt.Errorf("dial_transport: %w", err)
	}
	return ws, nil
}

// dialKind names a dial error for the error counts.
func dialKind(err error) string {
	s := err.Error()
	if strings.HasPrefix(s, "dial_http_") {
		return s
	}
	if strings.Contains(s, "too many open files") {
		return "dial_emfile"
	}
	return "dial_transport"
}
