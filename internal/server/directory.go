package server

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/pqxdh"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// Limits of the directory calls.
const (
	// MaxPrekeysPerUpload bounds each list of one-time prekeys in one
	// UploadPrekeys call.
	MaxPrekeysPerUpload = 200
	// MaxOneTimePrekeys bounds the one-time prekeys of each kind a device
	// may hold.
	MaxOneTimePrekeys = 2000
	// MaxDeviceListBytes bounds an encoded signed device list.
	MaxDeviceListBytes = 64 << 10
)

// PublishDeviceList replaces the caller's account's device list. Only a
// device in the current list may publish (the caller's token names a
// registered device, and removed devices are deleted with their list); the
// list must verify under the account's identity key, follow the current
// list (identity.VerifyDeviceList with it as prev) and its version MUST
// grow. Devices no longer listed lose their prekeys and queues in the same
// transaction, and their open streams are closed.
func (s *Server) PublishDeviceList(ctx context.Context, who store.Address, req *wardv1.PublishDeviceListRequest) (*wardv1.PublishDeviceListResponse, error) {
	signed := req.GetSignedDeviceList()
	if len(signed) == 0 || len(signed) > MaxDeviceListBytes {
		return nil, errorf(CodeInvalid, "signed_device_list must be 1..%d bytes", MaxDeviceListBytes)
	}
	if _, err := s.st.Device(ctx, who); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errorf(CodePermission, "only a device in the current device list may publish")
		}
		return nil, storeErr(err, "device")
	}
	acc, err := s.st.Account(ctx, who.Account)
	if err != nil {
		return nil, storeErr(err, "account")
	}
	aik, err := identity.ParseAccountPublicKey(acc.IdentityKey)
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Msg: "stored account key is unreadable", Err: err}
	}
	prevSigned, err := identity.ParseSignedDeviceList(acc.DeviceList)
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Msg: "stored device list is unreadable", Err: err}
	}
	prev, err := identity.ParseDeviceList(prevSigned.List)
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Msg: "stored device list is unreadable", Err: err}
	}
	next, err := identity.VerifyDeviceList(signed, aik, prev)
	if err != nil {
		if errors.Is(err, identity.ErrRollback) {
			return nil, &Error{Code: CodeFailedPrecondition, Msg: fmt.Sprintf("device list version must be greater than the current %d", prev.Version), Err: err}
		}
		return nil, &Error{Code: CodeInvalid, Msg: "signed_device_list does not verify against the account key and the current list", Err: err}
	}
	if next.Version <= prev.Version {
		return nil, errorf(CodeFailedPrecondition, "device list version must be greater than the current %d", prev.Version)
	}
	err = s.st.PublishDeviceList(ctx, who.Account, store.DeviceListUpdate{
		Version: next.Version, Signed: signed, Devices: deviceKeys(next), At: s.now(),
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, &Error{Code: CodeInvalid, Msg: "a device id in the list is already registered with other keys; device ids are never reused", Err: err}
	}
	s.accounts.forget(who.Account)
	if err != nil {
		return nil, storeErr(err, "device list")
	}
	_, removed := identity.Diff(prev, next)
	var evs []bus.Event
	for _, d := range removed {
		evs = append(evs, bus.Event{To: store.Address{Account: who.Account, Device: store.DeviceID(d.ID)}, Kind: bus.Removed})
	}
	if len(evs) > 0 {
		s.bus.Publish(ctx, evs...)
	}
	s.log.Info("device list published", "account", who.Account.String(), "version", next.Version, "removed", len(removed))
	return &wardv1.PublishDeviceListResponse{}, nil
}

// Lookup resolves a handle or account id for an authenticated caller.
func (s *Server) Lookup(ctx context.Context, who store.Address, req *wardv1.LookupRequest) (*wardv1.LookupResponse, error) {
	// Counted against the caller's account limit, which slows handle
	// enumeration.
	if !s.sendLimit.allow(acctKey(who.Account)) {
		s.metrics.rateLimited.WithLabelValues("account").Inc()
		return nil, s.rateErr("account", s.cfg.SendRate, s.cfg.SendBurst)
	}
	var acc *store.Account
	var err error
	switch w := req.GetWho().(type) {
	case *wardv1.LookupRequest_Handle:
		if w.Handle == "" || len(w.Handle) > store.MaxHandleLen {
			return nil, errorf(CodeInvalid, "handle must be 1..%d bytes", store.MaxHandleLen)
		}
		acc, err = s.st.AccountByHandle(ctx, w.Handle)
	case *wardv1.LookupRequest_AccountId:
		id, aerr := accountID(w.AccountId, "account_id")
		if aerr != nil {
			return nil, aerr
		}
		acc, err = s.st.Account(ctx, id)
	default:
		return nil, errorf(CodeInvalid, "handle or account_id is required")
	}
	if err != nil {
		return nil, storeErr(err, "account")
	}
	band := wardv1.AgeBand_AGE_BAND_ADULT
	if acc.AgeBand == store.AgeTeen {
		band = wardv1.AgeBand_AGE_BAND_TEEN
	}
	return &wardv1.LookupResponse{
		AccountId: acc.ID[:], Handle: acc.Handle, AccountKey: acc.IdentityKey,
		SignedDeviceList: acc.DeviceList, AgeBand: band,
	}, nil
}

// CreateInvite issues an invite code. createdBy is nil for the operator
// (the "wardd invite" command); otherwise the account must be an admin
// unless Config.Invites is "members".
func (s *Server) CreateInvite(ctx context.Context, createdBy *store.AccountID, req *wardv1.CreateInviteRequest) (*wardv1.CreateInviteResponse, error) {
	if createdBy != nil && s.cfg.Invites != "members" {
		acc, err := s.st.Account(ctx, *createdBy)
		if err != nil {
			return nil, storeErr(err, "account")
		}
		if !s.admins[store.NormalizeHandle(acc.Handle)] {
			return nil, errorf(CodePermission, "only administrators may create invites on this server")
		}
	}
	uses := int(req.GetUses())
	if uses == 0 {
		uses = 1
	}
	if uses > 10000 {
		return nil, errorf(CodeInvalid, "uses must be at most 10000")
	}
	now := s.now()
	exp := now.Add(7 * 24 * time.Hour)
	if ms := req.GetExpiresAtMs(); ms != 0 {
		exp = time.UnixMilli(ms)
		if !exp.After(now) || exp.After(now.Add(365*24*time.Hour)) {
			return nil, errorf(CodeInvalid, "expires_at_ms must be in the next 365 days")
		}
	}
	raw := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return nil, storeErr(err, "invite")
	}
	code := hex.EncodeToString(raw)
	if err := s.st.CreateInvite(ctx, store.Invite{CodeHash: inviteHash(code), CreatedBy: createdBy, UsesLeft: uses, ExpiresAt: exp}); err != nil {
		return nil, storeErr(err, "invite")
	}
	return &wardv1.CreateInviteResponse{Code: code}, nil
}

// UploadPrekeys stores a device's prekeys after checking them. Every
// signed prekey and PQ prekey signature is verified with the device's
// Ed25519 signing key (pqxdh.SignedPrekey.Verify, pqxdh.KEMPrekey.Verify)
// and every prekey must decode with the pqxdh encodings and carry the id it
// is filed under; the stored bytes are the client's canonical encodings.
func (s *Server) UploadPrekeys(ctx context.Context, who store.Address, req *wardv1.UploadPrekeysRequest) (*wardv1.UploadPrekeysResponse, error) {
	if len(req.GetOneTimePrekeys()) > MaxPrekeysPerUpload || len(req.GetOneTimePqPrekeys()) > MaxPrekeysPerUpload {
		return nil, errorf(CodeExhausted, "at most %d one-time prekeys of each kind per upload", MaxPrekeysPerUpload)
	}
	dev, err := s.st.Device(ctx, who)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errorf(CodePermission, "device is no longer in its account's device list")
		}
		return nil, storeErr(err, "device")
	}
	sk := ed25519.PublicKey(dev.SigningKey)
	var spk, lr *store.Prekey
	if p := req.GetSignedPrekey(); p != nil {
		k, err := pqxdh.ParseSignedPrekey(p.GetKey())
		if err != nil || k.ID != p.GetId() || k.Verify(sk) != nil {
			return nil, errorf(CodeInvalid, "signed_prekey does not decode, carries another id, or its signature does not verify")
		}
		spk = &store.Prekey{ID: p.GetId(), Key: p.GetKey()}
	}
	if p := req.GetLastResortPqPrekey(); p != nil {
		k, err := pqxdh.ParseKEMPrekey(p.GetKey())
		if err != nil || k.ID != p.GetId() || !k.LastResort || k.Verify(sk) != nil {
			return nil, errorf(CodeInvalid, "last_resort_pq_prekey does not decode, carries another id, is not marked last-resort, or its signature does not verify")
		}
		lr = &store.Prekey{ID: p.GetId(), Key: p.GetKey()}
	}
	otks := make([]store.Prekey, 0, len(req.GetOneTimePrekeys()))
	for i, p := range req.GetOneTimePrekeys() {
		k, err := pqxdh.ParseOneTimePrekey(p.GetKey())
		if err != nil || k.ID != p.GetId() {
			return nil, errorf(CodeInvalid, "one_time_prekeys[%d] does not decode or carries another id", i)
		}
		otks = append(otks, store.Prekey{ID: p.GetId(), Key: p.GetKey()})
	}
	pqs := make([]store.Prekey, 0, len(req.GetOneTimePqPrekeys()))
	for i, p := range req.GetOneTimePqPrekeys() {
		k, err := pqxdh.ParseKEMPrekey(p.GetKey())
		if err != nil || k.ID != p.GetId() || k.LastResort || k.Verify(sk) != nil {
			return nil, errorf(CodeInvalid, "one_time_pq_prekeys[%d] does not decode, carries another id, is marked last-resort, or its signature does not verify", i)
		}
		pqs = append(pqs, store.Prekey{ID: p.GetId(), Key: p.GetKey()})
	}
	if len(otks)+len(pqs) > 0 {
		c, err := s.st.PrekeyCounts(ctx, who)
		if err != nil {
			return nil, storeErr(err, "device")
		}
		if c.OneTime+len(otks) > MaxOneTimePrekeys || c.OneTimePQ+len(pqs) > MaxOneTimePrekeys {
			return nil, errorf(CodeExhausted, "a device may hold at most %d one-time prekeys of each kind (has %d and %d)", MaxOneTimePrekeys, c.OneTime, c.OneTimePQ)
		}
	}
	if spk != nil {
		if err := s.st.SetSignedPrekey(ctx, who, *spk); err != nil {
			return nil, storeErr(err, "device")
		}
	}
	if lr != nil {
		if err := s.st.SetLastResortPQPrekey(ctx, who, *lr); err != nil {
			return nil, storeErr(err, "device")
		}
	}
	if len(otks)+len(pqs) > 0 {
		if err := s.st.AddOneTimePrekeys(ctx, who, otks, pqs); err != nil {
			return nil, storeErr(err, "device")
		}
	}
	c, err := s.st.PrekeyCounts(ctx, who)
	if err != nil {
		return nil, storeErr(err, "device")
	}
	return &wardv1.UploadPrekeysResponse{Counts: protoCounts(c)}, nil
}

func protoCounts(c *store.PrekeyCounts) *wardv1.PrekeyCounts {
	return &wardv1.PrekeyCounts{
		OneTime: uint32(c.OneTime), OneTimePq: uint32(c.OneTimePQ),
		HasSignedPrekey: c.HasSignedPrekey, HasLastResortPqPrekey: c.HasLastResortPQ,
	}
}

func (s *Server) prekeysLow(c *store.PrekeyCounts) bool {
	return c.OneTime < s.cfg.PrekeyLowThreshold || c.OneTimePQ < s.cfg.PrekeyLowThreshold
}

// FetchBundles returns one prekey bundle per requested device (every
// device in the account's current list when none are named), handing out
// each one-time prekey at most once (store.TakeBundle is atomic). Devices
// whose one-time prekeys drop below the threshold get a PrekeysLow notice.
func (s *Server) FetchBundles(ctx context.Context, who store.Address, req *wardv1.FetchBundlesRequest) (*wardv1.FetchBundlesResponse, error) {
	acct, err := accountID(req.GetAccountId(), "account_id")
	if err != nil {
		return nil, err
	}
	if !s.sendLimit.allow(acctKey(who.Account)) {
		s.metrics.rateLimited.WithLabelValues("account").Inc()
		return nil, s.rateErr("account", s.cfg.SendRate, s.cfg.SendBurst)
	}
	acc, err := s.st.Account(ctx, acct)
	if err != nil {
		return nil, storeErr(err, "account")
	}
	devs, err := s.st.Devices(ctx, acct)
	if err != nil {
		return nil, storeErr(err, "account")
	}
	byID := make(map[uint32]store.Device, len(devs))
	for _, d := range devs {
		byID[uint32(d.ID)] = d
	}
	ids := req.GetDeviceIds()
	if len(ids) == 0 {
		for _, d := range devs {
			ids = append(ids, uint32(d.ID))
		}
	}
	if len(ids) > s.cfg.MaxRecipientsPerSend {
		return nil, errorf(CodeExhausted, "at most %d devices per fetch", s.cfg.MaxRecipientsPerSend)
	}
	// Check every device first so that a device without prekeys fails the
	// call before any one-time prekey of another device is consumed.
	seen := map[uint32]bool{}
	for _, id := range ids {
		if _, ok := byID[id]; !ok {
			return nil, errorf(CodeNotFound, "device %d is not in the current device list (version %d) of account %s", id, acc.DeviceListVersion, acct)
		}
		if seen[id] {
			return nil, errorf(CodeInvalid, "device %d requested twice", id)
		}
		seen[id] = true
		c, err := s.st.PrekeyCounts(ctx, store.Address{Account: acct, Device: store.DeviceID(id)})
		if err != nil {
			return nil, storeErr(err, "device")
		}
		if !c.HasSignedPrekey || (c.OneTimePQ == 0 && !c.HasLastResortPQ) {
			return nil, errorf(CodeNotFound, "device %d of account %s has not uploaded its prekeys", id, acct)
		}
	}
	resp := &wardv1.FetchBundlesResponse{SignedDeviceList: acc.DeviceList}
	var low []bus.Event
	for _, id := range ids {
		d := byID[id]
		addr := store.Address{Account: acct, Device: d.ID}
		tb, err := s.st.TakeBundle(ctx, addr)
		if err != nil {
			return nil, storeErr(err, fmt.Sprintf("device %d", id))
		}
		enc, err := buildBundle(d, tb)
		if err != nil {
			return nil, &Error{Code: CodeUnavailable, Msg: fmt.Sprintf("stored prekeys of device %d are unreadable", id), Err: err}
		}
		resp.Bundles = append(resp.Bundles, &wardv1.Bundle{DeviceId: id, Bundle: enc})
		// Counted after the take, so concurrent fetches cannot all miss
		// the moment the device runs low; the stream coalesces notices.
		if c, err := s.st.PrekeyCounts(ctx, addr); err == nil && s.prekeysLow(c) {
			low = append(low, bus.Event{To: addr, Kind: bus.PrekeysLow})
		}
	}
	if len(low) > 0 {
		s.bus.Publish(ctx, low...)
	}
	return resp, nil
}

// buildBundle assembles the pqxdh.Bundle encoding from the device's keys
// and the prekeys the store handed out.
func buildBundle(d store.Device, tb *store.Bundle) ([]byte, error) {
	ik, err := identityKey(d.IdentityKey)
	if err != nil {
		return nil, err
	}
	spk, err := pqxdh.ParseSignedPrekey(tb.SignedPrekey.Key)
	if err != nil {
		return nil, err
	}
	kem, err := pqxdh.ParseKEMPrekey(tb.PQ.Key)
	if err != nil {
		return nil, err
	}
	b := &pqxdh.Bundle{SigningKey: ed25519.PublicKey(d.SigningKey), IdentityKey: ik, SignedPrekey: *spk, KEMPrekey: *kem}
	if tb.OneTime != nil {
		otk, err := pqxdh.ParseOneTimePrekey(tb.OneTime.Key)
		if err != nil {
			return nil, err
		}
		b.OneTimePrekey = otk
	}
	return b.MarshalBinary()
}

func identityKey(b []byte) (*ecdh.PublicKey, error) { return ecdh.X25519().NewPublicKey(b) }
