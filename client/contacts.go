package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	"github.com/wardchat/ward/client/internal/db"
	"github.com/wardchat/ward/identity"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// contact is a parsed contact record: the pinned AIK and the last device
// list verified under it.
type contact struct {
	rec  *db.Contact
	aid  identity.AccountID
	aik  identity.AccountPublicKey
	list *identity.DeviceList
}

func parseContact(rec *db.Contact) (*contact, error) {
	ct := &contact{rec: rec}
	copy(ct.aid[:], rec.Account)
	var err error
	if ct.aik, err = identity.ParseAccountPublicKey(rec.AIK); err != nil {
		return nil, fmt.Errorf("client: stored contact key: %w", err)
	}
	sdl, err := identity.ParseSignedDeviceList(rec.List)
	if err != nil {
		return nil, fmt.Errorf("client: stored device list: %w", err)
	}
	if ct.list, err = identity.ParseDeviceList(sdl.List); err != nil {
		return nil, fmt.Errorf("client: stored device list: %w", err)
	}
	return ct, nil
}

// storedContact returns the contact record of an account, or nil.
func (c *Client) storedContact(ctx context.Context, aid identity.AccountID) (*contact, error) {
	var ct *contact
	err := c.db.View(ctx, func(tx *db.Tx) error {
		rec, err := tx.Contact(aid[:])
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ct, err = parseContact(rec)
		return err
	})
	return ct, err
}

func (c *Client) storedContactByHandle(ctx context.Context, handle string) (*contact, error) {
	var ct *contact
	err := c.db.View(ctx, func(tx *db.Tx) error {
		rec, err := tx.ContactByHandle(strings.ToLower(handle))
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ct, err = parseContact(rec)
		return err
	})
	return ct, err
}

// refreshContact looks an account up (by handle, or by id when aid is not
// nil) and verifies what the server returns against what this device
// pinned:
//
//   - first sight: the AIK is pinned (trust on first use) and the list is
//     verified under it; the list must name the account asked for;
//   - a different AIK, or a handle now served for a different account:
//     SafetyNumberChangedEvent (once per new key) and ErrIdentityChanged;
//   - otherwise the list must verify under the pinned AIK without rollback
//     (identity.VerifyDeviceList with the previous list), and device
//     changes raise DeviceAddedEvent / DeviceRemovedEvent.
func (c *Client) refreshContact(ctx context.Context, handle string, aid *identity.AccountID) (*contact, error) {
	req := &wardv1.LookupRequest{}
	if aid != nil {
		req.Who = &wardv1.LookupRequest_AccountId{AccountId: aid[:]}
	} else {
		req.Who = &wardv1.LookupRequest_Handle{Handle: handle}
	}
	res, err := c.conn.Accounts.Lookup(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, fmt.Errorf("client: lookup: %w", err)
	}
	m := res.Msg
	var got identity.AccountID
	if len(m.GetAccountId()) != identity.AccountIDSize {
		return nil, errors.New("client: lookup: malformed account id")
	}
	copy(got[:], m.GetAccountId())
	if aid != nil && got != *aid || aid == nil && !strings.EqualFold(m.GetHandle(), handle) {
		return nil, errors.New("client: lookup: the server answered for another account")
	}
	h := strings.ToLower(m.GetHandle())
	aik, err := identity.ParseAccountPublicKey(m.GetAccountKey())
	if err != nil {
		return nil, fmt.Errorf("client: lookup: %w", err)
	}
	ct, err := c.storedContact(ctx, got)
	if err != nil {
		return nil, err
	}
	if ct == nil {
		// A handle this device knows, now served for another account, is
		// a changed identity too.
		byHandle, err := c.storedContactByHandle(ctx, h)
		if err != nil {
			return nil, err
		}
		if byHandle != nil {
			c.identityChanged(ctx, byHandle, aik)
			return nil, fmt.Errorf("%w: %s", ErrIdentityChanged, h)
		}
		list, err := identity.VerifyDeviceList(m.GetSignedDeviceList(), aik, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUntrustedDevice, err)
		}
		if list.AccountID != got {
			return nil, fmt.Errorf("%w: device list names another account", ErrUntrustedDevice)
		}
		rec := &db.Contact{Account: got[:], Handle: h, AIK: aik.Bytes(), List: m.GetSignedDeviceList()}
		if err := c.db.Update(ctx, func(tx *db.Tx) error { return tx.PutContact(rec) }); err != nil {
			return nil, err
		}
		return &contact{rec: rec, aid: got, aik: aik, list: list}, nil
	}
	if !ct.aik.Equal(aik) {
		c.identityChanged(ctx, ct, aik)
		return nil, fmt.Errorf("%w: %s", ErrIdentityChanged, ct.rec.Handle)
	}
	dirty := ct.rec.PendingAIK != nil || ct.rec.Handle != h
	// Back on the pinned key: nothing left pending.
	ct.rec.PendingAIK = nil
	ct.rec.Handle = h
	if !dirty && bytes.Equal(ct.rec.List, m.GetSignedDeviceList()) {
		// The very list verified before: nothing to verify or store (the
		// common case on every send, which saves a commit).
		return ct, nil
	}
	return c.acceptList(ctx, ct, m.GetSignedDeviceList(), true)
}

// identityChanged records a key that differs from the pinned one and
// raises SafetyNumberChangedEvent the first time this key is seen.
func (c *Client) identityChanged(ctx context.Context, ct *contact, seen identity.AccountPublicKey) {
	if bytes.Equal(ct.rec.PendingAIK, seen.Bytes()) {
		return
	}
	ct.rec.PendingAIK = seen.Bytes()
	if err := c.db.Update(ctx, func(tx *db.Tx) error { return tx.PutContact(ct.rec) }); err != nil {
		c.log.Warn("storing a changed identity", "err", err)
	}
	c.log.Warn("contact identity key changed", "account", ct.aid.String())
	c.ev.push(&SafetyNumberChangedEvent{Handle: ct.rec.Handle, Account: ct.aid})
}

// acceptList verifies signed under the contact's pinned AIK against its
// previous list, stores it, forgets sessions with removed devices and
// raises device events.
func (c *Client) acceptList(ctx context.Context, ct *contact, signed []byte, emit bool) (*contact, error) {
	next, err := identity.VerifyDeviceList(signed, ct.aik, ct.list)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrustedDevice, err)
	}
	if next.AccountID != ct.aid {
		return nil, fmt.Errorf("%w: device list names another account", ErrUntrustedDevice)
	}
	added, removed := identity.Diff(ct.list, next)
	rec := *ct.rec
	rec.List = signed
	err = c.db.Update(ctx, func(tx *db.Tx) error {
		for _, d := range removed {
			if err := tx.DeletePeer(ct.aid[:], uint32(d.ID)); err != nil {
				return err
			}
		}
		return tx.PutContact(&rec)
	})
	if err != nil {
		return nil, err
	}
	if emit {
		var evs []Event
		for _, d := range removed {
			evs = append(evs, &DeviceRemovedEvent{Handle: rec.Handle, Account: ct.aid, Device: d.ID})
		}
		for _, d := range added {
			evs = append(evs, &DeviceAddedEvent{Handle: rec.Handle, Account: ct.aid, Device: d.ID, Name: d.Name})
		}
		c.ev.push(evs...)
	}
	return &contact{rec: &rec, aid: ct.aid, aik: ct.aik, list: next}, nil
}

// contactFor returns the verified contact for a handle, refreshed from the
// server.
func (c *Client) contactFor(ctx context.Context, handle string) (*contact, error) {
	if c.self != nil && strings.EqualFold(handle, c.self.handle) {
		return c.refreshContact(ctx, "", &c.self.aid)
	}
	return c.refreshContact(ctx, handle, nil)
}

// SafetyNumber returns the safety number of this account and the contact
// with the given handle, from the pinned keys. Users compare it (digits or
// QR payload) out of band.
func (c *Client) SafetyNumber(ctx context.Context, handle string) (*identity.SafetyNumber, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return nil, err
	}
	ct, err := c.storedContactByHandle(ctx, handle)
	if err != nil {
		return nil, err
	}
	if ct == nil {
		if ct, err = c.contactFor(ctx, handle); err != nil {
			return nil, err
		}
	}
	own, err := c.storedContact(ctx, s.aid)
	if err != nil || own == nil {
		return nil, fmt.Errorf("client: own account record missing: %v", err)
	}
	return identity.NewSafetyNumber(s.aid, own.aik, ct.aid, ct.aik)
}

// TrustIdentity accepts the identity key (and account) the server now
// presents for handle, after the user compared safety numbers: it replaces
// the pinned key, accepts the device list signed by it as a fresh start,
// and lets Send reach the contact again.
func (c *Client) TrustIdentity(ctx context.Context, handle string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.requireSelf(); err != nil {
		return err
	}
	res, err := c.conn.Accounts.Lookup(ctx, connect.NewRequest(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: handle}}))
	if err != nil {
		return fmt.Errorf("client: lookup: %w", err)
	}
	m := res.Msg
	var got identity.AccountID
	if len(m.GetAccountId()) != identity.AccountIDSize || !strings.EqualFold(m.GetHandle(), handle) {
		return errors.New("client: lookup: the server answered for another account")
	}
	copy(got[:], m.GetAccountId())
	if got == c.self.aid {
		return errors.New("client: cannot re-trust this account's own key")
	}
	aik, err := identity.ParseAccountPublicKey(m.GetAccountKey())
	if err != nil {
		return fmt.Errorf("client: lookup: %w", err)
	}
	list, err := identity.VerifyDeviceList(m.GetSignedDeviceList(), aik, nil)
	if err != nil || list.AccountID != got {
		return fmt.Errorf("%w: %v", ErrUntrustedDevice, err)
	}
	old, err := c.storedContactByHandle(ctx, handle)
	if err != nil {
		return err
	}
	blocked := false
	if old != nil {
		blocked = old.rec.Blocked
	}
	// Sessions are kept: loadPeer replaces any whose keys differ from the
	// newly trusted list.
	return c.db.Update(ctx, func(tx *db.Tx) error {
		return tx.PutContact(&db.Contact{Account: got[:], Handle: strings.ToLower(m.GetHandle()), AIK: aik.Bytes(), List: m.GetSignedDeviceList(), Blocked: blocked})
	})
}

// Block drops every message from handle on this device from now on (no
// event, no receipt) and refuses to send to it. It is local: the server
// side of blocking (DESIGN.md section 3, "blocks" as a safety signal) comes
// with the safety engine, and serverBlock is the hook for it.
func (c *Client) Block(ctx context.Context, handle string) error {
	return c.setBlocked(ctx, handle, true)
}

// Unblock undoes Block.
func (c *Client) Unblock(ctx context.Context, handle string) error {
	return c.setBlocked(ctx, handle, false)
}

// serverBlock reports a block or unblock to the server. The API has no
// call for it yet (issue 4); until then blocking is local only.
var serverBlock = func(ctx context.Context, c *Client, account identity.AccountID, blocked bool) error { return nil }

func (c *Client) setBlocked(ctx context.Context, handle string, blocked bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.requireSelf(); err != nil {
		return err
	}
	ct, err := c.storedContactByHandle(ctx, handle)
	if err != nil {
		return err
	}
	if ct == nil {
		if ct, err = c.contactFor(ctx, handle); err != nil {
			return err
		}
	}
	ct.rec.Blocked = blocked
	if err := c.db.Update(ctx, func(tx *db.Tx) error { return tx.PutContact(ct.rec) }); err != nil {
		return err
	}
	return serverBlock(ctx, c, ct.aid, blocked)
}
