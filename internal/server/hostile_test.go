package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// TestHostileInput sends random and truncated bodies to every Connect
// procedure, the blob endpoints and the stream. Every answer must be a
// 4xx-class error (or a success), never a 5xx or a crash, and the server
// must keep serving afterwards.
func TestHostileInput(t *testing.T) {
	e := newEnv(t, nil)
	a1, a2, b1, b2 := twoAccounts(t, e)
	b1.uploadPrekeys(3)
	ctx := context.Background()
	rng := mrand.New(mrand.NewPCG(1, 2))

	// Valid messages to truncate, one per procedure.
	regReq := e.newClient("mallory").registerRequest(ctx)
	preReq, _ := b1.prekeyRequest(2, 900)
	valid := map[string]proto.Message{
		wardv1connect.AccountServiceRegisterProcedure:          regReq,
		wardv1connect.AccountServiceChallengeProcedure:         &wardv1.ChallengeRequest{AccountId: a1.aid[:], DeviceId: 1},
		wardv1connect.AccountServiceAuthenticateProcedure:      &wardv1.AuthenticateRequest{AccountId: a1.aid[:], DeviceId: 1, Nonce: make([]byte, 32), Signature: make([]byte, 64)},
		wardv1connect.AccountServicePublishDeviceListProcedure: &wardv1.PublishDeviceListRequest{SignedDeviceList: regReq.SignedDeviceList},
		wardv1connect.AccountServiceLookupProcedure:            &wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: "bob"}},
		wardv1connect.AccountServiceCreateInviteProcedure:      &wardv1.CreateInviteRequest{Uses: 1},
		wardv1connect.KeyServiceUploadPrekeysProcedure:         preReq,
		wardv1connect.KeyServiceFetchBundlesProcedure:          &wardv1.FetchBundlesRequest{AccountId: b1.aid[:]},
		wardv1connect.MessageServiceSendProcedure: &wardv1.SendRequest{ClientMessageId: make([]byte, 16), Conversation: b1.aid[:], Commitment: make([]byte, 32),
			Copies: []*wardv1.Copy{{AccountId: b1.aid[:], DeviceId: 1, Envelope: []byte("e")}, {AccountId: b2.aid[:], DeviceId: 2, Envelope: []byte("e")}, {AccountId: a2.aid[:], DeviceId: 2, Envelope: []byte("e")}}},
	}
	post := func(path, ctype string, body []byte, token string) int {
		req, _ := http.NewRequest("POST", e.http.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if token != "" {
			req.Header.Set("Authorization", "Ward "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	check := func(what string, status int) {
		t.Helper()
		if status >= 500 {
			t.Fatalf("%s: status %d", what, status)
		}
	}
	requests := 0
	for proc, msg := range valid {
		enc, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := (protojsonMarshal(msg))
		for _, tok := range []string{"", a1.token, "v1.garbage"} {
			// Truncations of a valid body.
			step := max(1, len(enc)/40)
			for n := 0; n < len(enc); n += step {
				check(fmt.Sprintf("%s truncated to %d", proc, n), post(proc, "application/proto", enc[:n], tok))
				requests++
			}
			for n := 0; n < len(js); n += max(1, len(js)/10) {
				check(fmt.Sprintf("%s json truncated to %d", proc, n), post(proc, "application/json", js[:n], tok))
				requests++
			}
			// Random bodies and random byte flips.
			for range 20 {
				body := make([]byte, rng.IntN(300))
				for i := range body {
					body[i] = byte(rng.Uint32())
				}
				check(proc+" random", post(proc, "application/proto", body, tok))
				flipped := bytes.Clone(enc)
				if len(flipped) > 0 {
					flipped[rng.IntN(len(flipped))] ^= byte(1 + rng.IntN(255))
				}
				check(proc+" flipped", post(proc, "application/proto", flipped, tok))
				check(proc+" random json", post(proc, "application/json", body, tok))
				requests += 3
			}
			check(proc+" odd content type", post(proc, "text/plain", enc, tok))
		}
	}
	t.Logf("%d hostile Connect requests", requests)

	// Blob endpoints.
	blobID := a1.createBlob()
	for i := range 60 {
		body := make([]byte, rng.IntN(2000))
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		paths := []string{"/v1/blobs/" + blobID, "/v1/blobs/zz", "/v1/blobs/" + strings.Repeat("0", 64), "/v1/blobs/" + blobID[:10], "/v1/blobs/%00"}
		p := paths[i%len(paths)]
		for _, m := range []string{"PUT", "GET", "POST", "DELETE"} {
			for _, tok := range []string{"", a1.token, b1.token + "x"} {
				req, _ := http.NewRequest(m, e.http.URL+p, bytes.NewReader(body))
				if tok != "" {
					req.Header.Set("Authorization", "Ward "+tok)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue // a malformed URL is refused client-side
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				check(m+" "+p, resp.StatusCode)
			}
		}
	}

	// Stream: random frames, text frames, oversized frames, server-only
	// frames. Each gets an Error frame (or a close) and never a crash.
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + "/v1/stream"
	frames := [][]byte{{}, {0xff}, {0x12, 0x05, 0x08}, bytes.Repeat([]byte{0x41}, 4096)}
	ack, _ := proto.Marshal(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_Ack{Ack: &wardv1.Ack{UpToSeq: 1 << 40}}})
	del, _ := proto.Marshal(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_Delivery{Delivery: &wardv1.Delivery{Seq: 1}}})
	frames = append(frames, ack, del, ack[:len(ack)-1])
	for range 30 {
		f := make([]byte, rng.IntN(64))
		for i := range f {
			f[i] = byte(rng.Uint32())
		}
		frames = append(frames, f)
	}
	for i, f := range frames {
		ws, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Ward " + b1.token}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		typ := websocket.BinaryMessage
		if i%7 == 3 {
			typ = websocket.TextMessage
		}
		ws.WriteMessage(typ, f)
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				break // closed by the server, as it should
			}
			var sf wardv1.StreamFrame
			if proto.Unmarshal(data, &sf) == nil && sf.GetError() != nil {
				if c := sf.GetError().GetCode(); c != "invalid_argument" && c != "replaced" {
					t.Fatalf("frame %x: error code %q", f, c)
				}
			}
		}
		ws.Close()
	}
	// Stream without or with a bad token: 401 before the upgrade.
	for _, h := range []http.Header{nil, {"Authorization": {"Ward nope"}}} {
		_, resp, err := websocket.DefaultDialer.Dial(url, h)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("stream with header %v: %v", h, err)
		}
	}

	// The server still serves: health, and a full send and receive.
	if r, err := http.Get(e.http.URL + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz after hostile input: %v", err)
	}
	s := b2.stream()
	if _, err := a1.sendTo(b1, 77, "still here", b1, b2, a2); err != nil {
		t.Fatal(err)
	}
	for {
		d := s.delivery()
		if string(d.Envelope) == "still here@2" {
			break
		}
	}
	if _, err := a1.accounts.Lookup(ctx, connect.NewRequest(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: "bob"}})); err != nil {
		t.Fatal(err)
	}
}

func protojsonMarshal(m proto.Message) ([]byte, error) { return protojson.Marshal(m) }
