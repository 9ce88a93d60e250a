package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/wardchat/ward/identity"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// TestMain lets the crash test run this test binary as wardd itself.
func TestMain(m *testing.M) {
	if args := os.Getenv("WARDD_TEST_ARGS"); args != "" {
		os.Args = append([]string{"wardd"}, strings.Fields(args)...)
		main()
		return
	}
	os.Exit(m.Run())
}

// startWardd runs wardd in a child process on a free port and returns its
// base URL.
func startWardd(t *testing.T, dataDir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "WARDD_TEST_ARGS=-addr 127.0.0.1:0 -data-dir "+dataDir+" -send-rate 100000 -send-burst 100000 -log-level warn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("wardd did not start: %v", err)
	}
	m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("start-up line %q", line)
	}
	return cmd, "http://" + m[1]
}

type crashClient struct {
	aid   identity.AccountID
	dev   *identity.DeviceKeys
	token string
}

func register(t *testing.T, base, handle string) *crashClient {
	t.Helper()
	ctx := context.Background()
	acc := wardv1connect.NewAccountServiceClient(http.DefaultClient, base)
	c := &crashClient{}
	c.aid, _ = identity.NewAccountID(rand.Reader)
	aik, _ := identity.GenerateAccountKey(rand.Reader)
	c.dev, _ = identity.GenerateDeviceKeys(rand.Reader)
	list, err := identity.NewDeviceList(c.aid, identity.DeviceEntry{ID: 1, DevicePublicKeys: c.dev.Public()})
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := list.Sign(aik)
	ch, err := acc.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: c.aid[:], DeviceId: 1}))
	if err != nil {
		t.Fatal(err)
	}
	pub := c.dev.Public()
	if _, err := acc.Register(ctx, connect.NewRequest(&wardv1.RegisterRequest{
		Handle: handle, AgeBand: wardv1.AgeBand_AGE_BAND_ADULT, AccountId: c.aid[:], AccountKey: aik.Public().Bytes(),
		SignedDeviceList: signed, Device: &wardv1.DeviceKeys{DeviceId: 1, SigningKey: pub.SigningKey, IdentityKey: pub.IdentityKey.Bytes()},
		Challenge: ch.Msg.Nonce, ChallengeSignature: c.dev.SignChallenge(ch.Msg.Nonce),
	})); err != nil {
		t.Fatal(err)
	}
	ch, err = acc.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: c.aid[:], DeviceId: 1}))
	if err != nil {
		t.Fatal(err)
	}
	a, err := acc.Authenticate(ctx, connect.NewRequest(&wardv1.AuthenticateRequest{AccountId: c.aid[:], DeviceId: 1, Nonce: ch.Msg.Nonce, Signature: c.dev.SignChallenge(ch.Msg.Nonce)}))
	if err != nil {
		t.Fatal(err)
	}
	c.token = a.Msg.Token
	return c
}

// receive reads deliveries from a stream, acks each one, and records the
// message numbers until the stream ends or stays quiet for quiet.
func receive(t *testing.T, base, token string, got map[uint64]bool, mu *sync.Mutex, quiet time.Duration) {
	url := "ws" + strings.TrimPrefix(base, "http") + "/v1/stream"
	ws, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Ward " + token}})
	if err != nil {
		t.Errorf("dial: %v", err)
		return
	}
	defer ws.Close()
	for {
		ws.SetReadDeadline(time.Now().Add(quiet))
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var f wardv1.StreamFrame
		if proto.Unmarshal(data, &f) != nil {
			t.Errorf("bad frame")
			return
		}
		d := f.GetDelivery()
		if d == nil {
			continue
		}
		mu.Lock()
		got[binary.BigEndian.Uint64(d.Envelope)] = true
		mu.Unlock()
		ack, _ := proto.Marshal(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_Ack{Ack: &wardv1.Ack{UpToSeq: d.Seq}}})
		if ws.WriteMessage(websocket.BinaryMessage, ack) != nil {
			return
		}
	}
}

// TestCrashRecovery kills wardd (SIGKILL) while messages are being sent,
// received and acknowledged, restarts it on the same data directory and
// checks that every message whose Send succeeded is delivered: no committed
// message is lost, acknowledged or not.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	cmd, base := startWardd(t, dir)
	alice := register(t, base, "alice")
	bob := register(t, base, "bob")

	var mu sync.Mutex
	got := map[uint64]bool{}
	recvDone := make(chan struct{})
	go func() { defer close(recvDone); receive(t, base, bob.token, got, &mu, 30*time.Second) }()

	msgs := wardv1connect.NewMessageServiceClient(http.DefaultClient, base)
	var okMu sync.Mutex
	ok := map[uint64]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var next uint64
	var nextMu sync.Mutex
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				nextMu.Lock()
				i := next
				next++
				nextMu.Unlock()
				env := make([]byte, 64)
				binary.BigEndian.PutUint64(env, i)
				var cm [16]byte
				binary.BigEndian.PutUint64(cm[:], i)
				req := connect.NewRequest(&wardv1.SendRequest{ClientMessageId: cm[:], Conversation: bob.aid[:], Commitment: make([]byte, 32),
					Copies: []*wardv1.Copy{{AccountId: bob.aid[:], DeviceId: 1, Envelope: env}}})
				req.Header().Set("Authorization", "Ward "+alice.token)
				if _, err := msgs.Send(context.Background(), req); err == nil {
					okMu.Lock()
					ok[i] = true
					okMu.Unlock()
				} else if !strings.Contains(err.Error(), "connect") && !strings.Contains(err.Error(), "EOF") && connect.CodeOf(err) != connect.CodeUnavailable {
					// Transport errors are expected once the server dies.
					t.Logf("send %d: %v", i, err)
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	wg.Wait()
	<-recvDone

	okMu.Lock()
	sent := len(ok)
	okMu.Unlock()
	if sent < 50 {
		t.Fatalf("only %d sends succeeded before the crash", sent)
	}
	mu.Lock()
	before := len(got)
	mu.Unlock()

	_, base2 := startWardd(t, dir)
	receive(t, base2, bob.token, got, &mu, 2*time.Second)
	var lost []uint64
	for i := range ok {
		if !got[i] {
			lost = append(lost, i)
		}
	}
	t.Logf("%d sends succeeded, %d delivered before the crash, %d after", sent, before, len(got)-before)
	if len(lost) > 0 {
		t.Fatalf("%d committed messages lost, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
}
