// Package transport is the client SDK's connection to a Ward server: the
// Connect clients of proto/ward/v1 for unary calls, the /v1/stream WebSocket
// (github.com/coder/websocket, which also works when compiled to
// WebAssembly) and the /v1/blobs HTTP endpoints. It holds the device's
// session token and renews it by signing a fresh challenge. It knows nothing
// of sessions or state: the SDK above it does.
package transport

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// Signer is the device identity the transport authenticates as.
type Signer interface {
	// Address returns the account id (16 bytes) and device id.
	Address() (account []byte, device uint32)
	// SignChallenge signs a server challenge with the device signing key.
	SignChallenge(nonce []byte) []byte
}

// Conn is a connection to one server. It is safe for concurrent use.
type Conn struct {
	base string
	hc   *http.Client

	// Accounts, Keys and Messages are the Connect clients. Calls other than
	// Register, Challenge and Authenticate carry the session token, renewed
	// once on an unauthenticated answer.
	Accounts wardv1connect.AccountServiceClient
	Keys     wardv1connect.KeyServiceClient
	Messages wardv1connect.MessageServiceClient

	mu      sync.Mutex
	signer  Signer
	token   string
	expires time.Time
	now     func() time.Time
}

// New returns a connection to the server at baseURL (such as
// "http://127.0.0.1:8420"). hc may be nil for http.DefaultClient.
func New(baseURL string, hc *http.Client) *Conn {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Conn{base: strings.TrimRight(baseURL, "/"), hc: hc, now: time.Now}
	opt := connect.WithInterceptors(c.interceptor())
	c.Accounts = wardv1connect.NewAccountServiceClient(hc, c.base, opt)
	c.Keys = wardv1connect.NewKeyServiceClient(hc, c.base, opt)
	c.Messages = wardv1connect.NewMessageServiceClient(hc, c.base, opt)
	return c
}

// SetSigner sets the device the connection authenticates as and forgets any
// token.
func (c *Conn) SetSigner(s Signer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signer, c.token = s, ""
}

var unauthProcedures = map[string]bool{
	wardv1connect.AccountServiceRegisterProcedure:     true,
	wardv1connect.AccountServiceChallengeProcedure:    true,
	wardv1connect.AccountServiceAuthenticateProcedure: true,
}

func (c *Conn) interceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if unauthProcedures[req.Spec().Procedure] {
				return next(ctx, req)
			}
			for attempt := 0; ; attempt++ {
				tok, err := c.Token(ctx)
				if err != nil {
					return nil, err
				}
				req.Header().Set("Authorization", "Ward "+tok)
				resp, err := next(ctx, req)
				if attempt == 0 && connect.CodeOf(err) == connect.CodeUnauthenticated {
					c.invalidate(tok)
					continue
				}
				return resp, err
			}
		}
	}
}

func (c *Conn) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// Token returns a valid session token, authenticating (Challenge, then
// Authenticate with the signed nonce) when there is none or it expires
// within a minute.
func (c *Conn) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Add(time.Minute).Before(c.expires) {
		return c.token, nil
	}
	if c.signer == nil {
		return "", errors.New("transport: no device to authenticate as")
	}
	acct, dev := c.signer.Address()
	ch, err := c.Accounts.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: acct, DeviceId: dev}))
	if connect.CodeOf(err) == connect.CodeNotFound {
		return "", fmt.Errorf("transport: challenge: %w: %w", ErrNotListed, err)
	}
	if err != nil {
		return "", fmt.Errorf("transport: challenge: %w", err)
	}
	sig := c.signer.SignChallenge(ch.Msg.GetNonce())
	res, err := c.Accounts.Authenticate(ctx, connect.NewRequest(&wardv1.AuthenticateRequest{AccountId: acct, DeviceId: dev, Nonce: ch.Msg.GetNonce(), Signature: sig}))
	if err != nil {
		return "", fmt.Errorf("transport: authenticate: %w", err)
	}
	c.token = res.Msg.GetToken()
	c.expires = time.UnixMilli(res.Msg.GetExpiresAtMs())
	return c.token, nil
}

// ErrNotListed means the server refused a challenge for this device
// because the device is not in its account's current device list: the
// device was removed. Callers branch on it with errors.Is.
var ErrNotListed = errors.New("transport: this device is not in its account's device list")

// HTTPError is a failed blob call: the HTTP status and the server's JSON
// error body {code, message}.
type HTTPError struct {
	Status  int
	Code    string
	Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("transport: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

func httpError(resp *http.Response) error {
	e := &HTTPError{Status: resp.StatusCode}
	var body struct{ Code, Message string }
	if json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body) == nil {
		e.Code, e.Message = body.Code, body.Message
	}
	return e
}

// Temporary reports whether err is worth retrying: a network failure, an
// unavailable server or a rate limit. Context cancellation is not.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeUnavailable, connect.CodeResourceExhausted, connect.CodeAborted, connect.CodeInternal, connect.CodeUnknown,
			connect.CodeCanceled: // a connection reset surfaces as canceled; real cancellations were caught above
			return true
		}
		return false
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

func (c *Conn) authed(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.Token(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
		if body != nil {
			req.ContentLength = size
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		req.Header.Set("Authorization", "Ward "+tok)
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("transport: %s %s: %w", method, path, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && (body == nil || method == http.MethodPost) {
			resp.Body.Close()
			c.invalidate(tok)
			continue
		}
		return resp, nil
	}
}

// CreateBlob asks for a new blob id (POST /v1/blobs) and returns it with the
// server's size limit.
func (c *Conn) CreateBlob(ctx context.Context) (id []byte, maxBytes int64, err error) {
	resp, err := c.authed(ctx, http.MethodPost, "/v1/blobs", nil, 0)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, 0, httpError(resp)
	}
	var body struct {
		ID       string `json:"id"`
		MaxBytes int64  `json:"max_bytes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, 0, fmt.Errorf("transport: blob id: %w", err)
	}
	id, err = hex.DecodeString(body.ID)
	if err != nil || len(id) != 32 {
		return nil, 0, errors.New("transport: server returned a malformed blob id")
	}
	return id, body.MaxBytes, nil
}

// PutBlob uploads the ciphertext of a blob (PUT /v1/blobs/{id}). A failed
// upload stores nothing, so the caller may simply call PutBlob again with
// the same id and a fresh reader.
func (c *Conn) PutBlob(ctx context.Context, id []byte, body io.Reader, size int64) error {
	resp, err := c.authed(ctx, http.MethodPut, "/v1/blobs/"+hex.EncodeToString(id), body, size)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpError(resp)
	}
	return nil
}

// GetBlob downloads a blob's ciphertext (GET /v1/blobs/{id}) into w.
func (c *Conn) GetBlob(ctx context.Context, id []byte, w io.Writer) error {
	resp, err := c.authed(ctx, http.MethodGet, "/v1/blobs/"+hex.EncodeToString(id), nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpError(resp)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("transport: blob download: %w", err)
	}
	return nil
}

// maxFrame bounds one server frame: an envelope (64 KiB by default) and
// its metadata. Larger server limits need a larger bound.
const maxFrame = 8 << 20

// Stream is an open /v1/stream WebSocket.
type Stream struct {
	ws *websocket.Conn
}

// Dial opens the delivery stream.
func (c *Conn) Dial(ctx context.Context) (*Stream, error) {
	tok, err := c.Token(ctx)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(c.base + "/v1/stream")
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	ws, resp, err := dial(ctx, u, c.hc, tok)
	if err != nil {
		// 401: the token expired or the server's key rotated; 403: the
		// device or account lost its standing. Either way the next Dial
		// authenticates afresh, so a removed device learns it from the
		// challenge (ErrNotListed) instead of retrying a dead token.
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			c.invalidate(tok)
		}
		return nil, fmt.Errorf("transport: stream: %w", err)
	}
	ws.SetReadLimit(maxFrame)
	return &Stream{ws: ws}, nil
}

// Read returns the next frame from the server. Reading also answers the
// server's pings.
func (s *Stream) Read(ctx context.Context) (*wardv1.StreamFrame, error) {
	typ, data, err := s.ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("transport: stream: %w", err)
	}
	if typ != websocket.MessageBinary {
		return nil, errors.New("transport: stream: unexpected text frame")
	}
	f := new(wardv1.StreamFrame)
	if err := proto.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("transport: stream: malformed frame: %w", err)
	}
	return f, nil
}

// Ack acknowledges every delivery up to seq.
func (s *Stream) Ack(ctx context.Context, seq uint64) error {
	b, err := proto.Marshal(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_Ack{Ack: &wardv1.Ack{UpToSeq: seq}}})
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	if err := s.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return fmt.Errorf("transport: stream: %w", err)
	}
	return nil
}

// Close closes the stream.
func (s *Stream) Close() error {
	return s.ws.Close(websocket.StatusNormalClosure, "")
}
