package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/internal/store"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// ChallengeTTL is how long a challenge nonce may be signed and used.
const ChallengeTTL = 5 * time.Minute

// Token and registration-challenge encodings (docs/API.md, "Auth"). Both are
// MACed with HMAC-SHA256 under the server's auth key, kept in the store's
// Secrets table; the MAC input starts with a label so that one can never be
// passed off as the other.
//
//	struct {
//	    uint8  version = 1;
//	    opaque account[16];
//	    uint32 device;
//	    uint64 expires_at;   // unix ms
//	    opaque mac[32];      // HMAC(auth_key, "ward token v1" ‖ preceding bytes)
//	} Token;                 // sent as "v1." + base64url (no padding)
//
//	struct {
//	    uint8  version = 2;
//	    opaque random[16];
//	    opaque account[16];
//	    uint32 device;
//	    uint64 expires_at;
//	    opaque mac[32];      // HMAC(auth_key, "ward registration challenge v1" ‖ preceding bytes)
//	} RegistrationChallenge;
const (
	tokenLabel    = "ward token v1"
	regChalLabel  = "ward registration challenge v1"
	tokenPrefix   = "v1."
	tokenBodySize = 1 + 16 + 4 + 8
	macSize       = 32
	nonceSize     = 32 // stored challenges
)

func (s *Server) mac(label string, msg []byte) []byte {
	h := hmac.New(sha256.New, s.authKey)
	io.WriteString(h, label)
	h.Write(msg)
	return h.Sum(nil)
}

// issueToken returns a session token for addr valid until exp.
func (s *Server) issueToken(addr store.Address, exp time.Time) string {
	var b cryptobyte.Builder
	b.AddUint8(1)
	b.AddBytes(addr.Account[:])
	b.AddUint32(uint32(addr.Device))
	b.AddUint64(uint64(exp.UnixMilli()))
	body := b.BytesOrPanic()
	tok := append(body, s.mac(tokenLabel, body)...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(tok)
}

var errBadToken = &Error{Code: CodeUnauthenticated, Msg: "invalid or expired token; authenticate again"}

// verifyToken checks a token and returns the device it names.
func (s *Server) verifyToken(tok string) (store.Address, error) {
	var addr store.Address
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || len(rest) > 128 {
		return addr, errBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(raw) != tokenBodySize+macSize {
		return addr, errBadToken
	}
	body, tag := raw[:tokenBodySize], raw[tokenBodySize:]
	if !hmac.Equal(tag, s.mac(tokenLabel, body)) {
		return addr, errBadToken
	}
	in := cryptobyte.String(body)
	var ver uint8
	var acct []byte
	var dev uint32
	var exp uint64
	if !in.ReadUint8(&ver) || ver != 1 || !in.ReadBytes(&acct, 16) || !in.ReadUint32(&dev) || !in.ReadUint64(&exp) {
		return addr, errBadToken
	}
	if s.now().UnixMilli() >= int64(exp) {
		return addr, errBadToken
	}
	copy(addr.Account[:], acct)
	addr.Device = store.DeviceID(dev)
	return addr, nil
}

// authorize checks a token and that its device is still in its account's
// device list and the account is not suspended or banned. The account
// cache makes this free on the hot path; a removed device or a suspension
// takes effect within the cache's TTL on every node (at once on the node
// that accepted the new device list).
func (s *Server) authorize(ctx context.Context, tok string) (store.Address, error) {
	addr, err := s.verifyToken(tok)
	if err != nil {
		return addr, err
	}
	acc, devs, err := s.accounts.get(ctx, s.st, addr.Account)
	if errors.Is(err, store.ErrNotFound) {
		return addr, errBadToken
	}
	if err != nil {
		return addr, storeErr(err, "account")
	}
	if acc.Status == store.StatusSuspended || acc.Status == store.StatusBanned {
		return addr, errorf(CodePermission, "account is %s", acc.Status)
	}
	for _, d := range devs {
		if d.ID == addr.Device {
			return addr, nil
		}
	}
	return addr, errorf(CodePermission, "device is no longer in its account's device list")
}

// tokenFromHeader extracts the token of "Authorization: Ward <token>".
func tokenFromHeader(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Ward") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (s *Server) registrationChallenge(addr store.Address, exp time.Time) ([]byte, error) {
	var rnd [16]byte
	if _, err := io.ReadFull(s.rand, rnd[:]); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(2)
	b.AddBytes(rnd[:])
	b.AddBytes(addr.Account[:])
	b.AddUint32(uint32(addr.Device))
	b.AddUint64(uint64(exp.UnixMilli()))
	body := b.BytesOrPanic()
	return append(body, s.mac(regChalLabel, body)...), nil
}

// checkRegistrationChallenge verifies a registration challenge for addr.
// It is stateless: replaying one can only re-register an account id that
// is then taken (ErrConflict), so no record is kept.
func (s *Server) checkRegistrationChallenge(addr store.Address, c []byte) error {
	bad := &Error{Code: CodeUnauthenticated, Msg: "registration challenge is invalid or expired; request a new one"}
	const bodySize = 1 + 16 + 16 + 4 + 8
	if len(c) != bodySize+macSize || !hmac.Equal(c[bodySize:], s.mac(regChalLabel, c[:bodySize])) {
		return bad
	}
	in := cryptobyte.String(c[:bodySize])
	var ver uint8
	var rnd, acct []byte
	var dev uint32
	var exp uint64
	if !in.ReadUint8(&ver) || ver != 2 || !in.ReadBytes(&rnd, 16) || !in.ReadBytes(&acct, 16) || !in.ReadUint32(&dev) || !in.ReadUint64(&exp) {
		return bad
	}
	if !bytes.Equal(acct, addr.Account[:]) || store.DeviceID(dev) != addr.Device || s.now().UnixMilli() >= int64(exp) {
		return bad
	}
	return nil
}

func accountID(b []byte, what string) (store.AccountID, error) {
	var id store.AccountID
	if len(b) != store.AccountIDSize {
		return id, errorf(CodeInvalid, "%s must be %d bytes, got %d", what, store.AccountIDSize, len(b))
	}
	copy(id[:], b)
	return id, nil
}

// Challenge issues a nonce for a device to sign. For a registered device
// the nonce is stored and single-use (Authenticate consumes it); for a
// device of an account that does not exist yet it is a stateless,
// MAC-protected registration challenge for Register.
func (s *Server) Challenge(ctx context.Context, req *wardv1.ChallengeRequest) (*wardv1.ChallengeResponse, error) {
	acct, err := accountID(req.GetAccountId(), "account_id")
	if err != nil {
		return nil, err
	}
	if req.GetDeviceId() == 0 {
		return nil, errorf(CodeInvalid, "device_id must not be 0")
	}
	addr := store.Address{Account: acct, Device: store.DeviceID(req.GetDeviceId())}
	exp := s.now().Add(ChallengeTTL)
	_, err = s.st.Device(ctx, addr)
	switch {
	case err == nil:
		nonce := make([]byte, nonceSize)
		if _, err := io.ReadFull(s.rand, nonce); err != nil {
			return nil, storeErr(err, "challenge")
		}
		if err := s.st.PutChallenge(ctx, store.Challenge{Nonce: nonce, Device: addr, ExpiresAt: exp}); err != nil {
			return nil, storeErr(err, "challenge")
		}
		return &wardv1.ChallengeResponse{Nonce: nonce, ExpiresAtMs: exp.UnixMilli()}, nil
	case errors.Is(err, store.ErrNotFound):
	default:
		return nil, storeErr(err, "device")
	}
	if _, err := s.st.Account(ctx, acct); err == nil {
		return nil, errorf(CodeNotFound, "device %d is not in the device list of account %s", addr.Device, acct)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, storeErr(err, "account")
	}
	c, err := s.registrationChallenge(addr, exp)
	if err != nil {
		return nil, storeErr(err, "challenge")
	}
	return &wardv1.ChallengeResponse{Nonce: c, ExpiresAtMs: exp.UnixMilli()}, nil
}

// Authenticate exchanges a signed challenge for a session token.
func (s *Server) Authenticate(ctx context.Context, req *wardv1.AuthenticateRequest) (*wardv1.AuthenticateResponse, error) {
	acct, err := accountID(req.GetAccountId(), "account_id")
	if err != nil {
		return nil, err
	}
	addr := store.Address{Account: acct, Device: store.DeviceID(req.GetDeviceId())}
	if len(req.GetNonce()) != nonceSize {
		return nil, errorf(CodeInvalid, "nonce must be %d bytes", nonceSize)
	}
	failed := &Error{Code: CodeUnauthenticated, Msg: "authentication failed; request a new challenge"}
	now := s.now()
	ch, err := s.st.ConsumeChallenge(ctx, req.GetNonce(), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, failed
	}
	if err != nil {
		return nil, storeErr(err, "challenge")
	}
	if ch.Device != addr {
		return nil, failed
	}
	dev, err := s.st.Device(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return nil, failed
	}
	if err != nil {
		return nil, storeErr(err, "device")
	}
	if err := identity.VerifyChallenge(dev.SigningKey, req.GetNonce(), req.GetSignature()); err != nil {
		return nil, failed
	}
	acc, err := s.st.Account(ctx, acct)
	if err != nil {
		return nil, storeErr(err, "account")
	}
	if acc.Status == store.StatusSuspended || acc.Status == store.StatusBanned {
		return nil, errorf(CodePermission, "account is %s", acc.Status)
	}
	if err := s.st.TouchDevice(ctx, addr, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("touch device", "err", err)
	}
	exp := now.Add(s.cfg.TokenTTL)
	return &wardv1.AuthenticateResponse{Token: s.issueToken(addr, exp), ExpiresAtMs: exp.UnixMilli()}, nil
}

var handleRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$`)

// Register creates an account with its first device list. It verifies the
// signed device list against the account key (identity.VerifyDeviceList),
// that the registering device is in it with the same keys, and that the
// device signed the registration challenge (proof of possession).
func (s *Server) Register(ctx context.Context, req *wardv1.RegisterRequest) (*wardv1.RegisterResponse, error) {
	if !handleRE.MatchString(req.GetHandle()) {
		return nil, errorf(CodeInvalid, "handle must be 3 to 32 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
	}
	var band store.AgeBand
	switch req.GetAgeBand() {
	case wardv1.AgeBand_AGE_BAND_ADULT:
		band = store.AgeAdult
	case wardv1.AgeBand_AGE_BAND_TEEN:
		band = store.AgeTeen
	default:
		return nil, errorf(CodeInvalid, "age_band must be adult or teen")
	}
	acct, err := accountID(req.GetAccountId(), "account_id")
	if err != nil {
		return nil, err
	}
	aik, err := identity.ParseAccountPublicKey(req.GetAccountKey())
	if err != nil {
		return nil, errorf(CodeInvalid, "account_key is not a valid Ed25519 public key")
	}
	list, err := identity.VerifyDeviceList(req.GetSignedDeviceList(), aik, nil)
	if err != nil {
		return nil, &Error{Code: CodeInvalid, Msg: "signed_device_list does not verify under account_key", Err: err}
	}
	// identity.VerifyDeviceList: "With no prev, the caller MUST check that
	// the returned list's AccountID is the account it asked for."
	if !bytes.Equal(list.AccountID[:], acct[:]) {
		return nil, errorf(CodeInvalid, "signed_device_list is for another account")
	}
	d := req.GetDevice()
	if d == nil || d.GetDeviceId() == 0 {
		return nil, errorf(CodeInvalid, "device is required")
	}
	entry, ok := list.Device(identity.DeviceID(d.GetDeviceId()))
	if !ok || !bytes.Equal(entry.SigningKey, d.GetSigningKey()) || !bytes.Equal(entry.IdentityKey.Bytes(), d.GetIdentityKey()) {
		return nil, errorf(CodeInvalid, "device %d is not in the signed device list with these keys", d.GetDeviceId())
	}
	addr := store.Address{Account: acct, Device: store.DeviceID(d.GetDeviceId())}
	if err := s.checkRegistrationChallenge(addr, req.GetChallenge()); err != nil {
		return nil, err
	}
	if err := identity.VerifyChallenge(entry.SigningKey, req.GetChallenge(), req.GetChallengeSignature()); err != nil {
		return nil, errorf(CodeUnauthenticated, "challenge_signature does not verify under the device signing key")
	}
	na := store.NewAccount{
		ID:          acct,
		Handle:      req.GetHandle(),
		AgeBand:     band,
		IdentityKey: aik.Bytes(),
		CreatedAt:   s.now(),
		DeviceList:  store.DeviceListUpdate{Version: list.Version, Signed: req.GetSignedDeviceList(), Devices: deviceKeys(list)},
	}
	if s.cfg.Registration == "invite" {
		if req.GetInviteCode() == "" {
			return nil, errorf(CodePermission, "this server is invite-only: invite_code is required")
		}
		na.InviteCodeHash = inviteHash(req.GetInviteCode())
	}
	if err := s.st.CreateAccount(ctx, na); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, &Error{Code: CodeExists, Msg: "handle or account id is already taken", Err: err}
		}
		return nil, storeErr(err, "account")
	}
	s.log.Info("account registered", "account", acct.String(), "age_band", string(band))
	return &wardv1.RegisterResponse{}, nil
}

func deviceKeys(l *identity.DeviceList) []store.DeviceKeys {
	out := make([]store.DeviceKeys, len(l.Devices))
	for i, d := range l.Devices {
		out[i] = store.DeviceKeys{ID: store.DeviceID(d.ID), SigningKey: d.SigningKey, IdentityKey: d.IdentityKey.Bytes()}
	}
	return out
}

func inviteHash(code string) []byte {
	h := sha256.Sum256([]byte("ward invite v1\x00" + strings.TrimSpace(code)))
	return h[:]
}
