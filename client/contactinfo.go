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

// ContactInfo is what this device knows about a contact.
type ContactInfo struct {
	Handle    string
	AccountID identity.AccountID
	// Blocked reports that Block was called for the contact (see Block).
	Blocked bool
	// IdentityChangePending reports that the server presented another
	// account identity key for the contact (or the handle for another
	// account) than the one pinned, and TrustIdentity has not been called
	// since: Send refuses to reach the contact.
	IdentityChangePending bool
	// SafetyNumber is computed from the pinned identity key: the number
	// the user compared (or could have compared) before the change.
	SafetyNumber *identity.SafetyNumber
	// PendingSafetyNumber is computed from the account and identity key
	// the server presents now, which TrustIdentity would pin; the contact
	// sees this number on their side. It is nil when no change is pending,
	// and always nil in the results of Contacts, which reads local state
	// only.
	PendingSafetyNumber *identity.SafetyNumber
	// Devices is the number of devices in the contact's last verified
	// device list.
	Devices int
}

// Contact returns what this device knows about the contact with the given
// handle. An unknown handle is looked up (and its key pinned) as for
// SafetyNumber. When an identity change is pending, Contact asks the
// server what it presents now to compute PendingSafetyNumber; it fails if
// the server cannot be reached.
func (c *Client) Contact(ctx context.Context, handle string) (*ContactInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(handle, s.handle) {
		return nil, errors.New("client: Contact: that handle is this account")
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
	own, err := c.ownAIK(ctx, s)
	if err != nil {
		return nil, err
	}
	info, err := contactInfo(s, own, ct)
	if err != nil || !info.IdentityChangePending {
		return info, err
	}
	res, err := c.conn.Accounts.Lookup(ctx, connect.NewRequest(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: ct.rec.Handle}}))
	if err != nil {
		return nil, fmt.Errorf("client: lookup: %w", err)
	}
	m := res.Msg
	var aid identity.AccountID
	if len(m.GetAccountId()) != identity.AccountIDSize || !strings.EqualFold(m.GetHandle(), ct.rec.Handle) {
		return nil, errors.New("client: lookup: the server answered for another account")
	}
	copy(aid[:], m.GetAccountId())
	aik, err := identity.ParseAccountPublicKey(m.GetAccountKey())
	if err != nil {
		return nil, fmt.Errorf("client: lookup: %w", err)
	}
	if aid == ct.aid && aik.Equal(ct.aik) {
		// The server is back on the pinned key: nothing to trust.
		return info, nil
	}
	if info.PendingSafetyNumber, err = identity.NewSafetyNumber(s.aid, own, aid, aik); err != nil {
		return nil, err
	}
	return info, nil
}

// Contacts returns every contact this device has seen (not this account
// itself), ordered by handle. It reads local state only:
// PendingSafetyNumber is nil; call Contact for it.
func (c *Client) Contacts(ctx context.Context) ([]ContactInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return nil, err
	}
	own, err := c.ownAIK(ctx, s)
	if err != nil {
		return nil, err
	}
	var recs []*db.Contact
	if err := c.db.View(ctx, func(tx *db.Tx) error {
		recs, err = tx.Contacts()
		return err
	}); err != nil {
		return nil, err
	}
	out := []ContactInfo{}
	for _, rec := range recs {
		if bytes.Equal(rec.Account, s.aid[:]) {
			continue
		}
		ct, err := parseContact(rec)
		if err != nil {
			return nil, err
		}
		info, err := contactInfo(s, own, ct)
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// ownAIK returns this account's identity key as pinned locally.
func (c *Client) ownAIK(ctx context.Context, s *self) (identity.AccountPublicKey, error) {
	own, err := c.storedContact(ctx, s.aid)
	if err != nil || own == nil {
		return identity.AccountPublicKey{}, fmt.Errorf("client: own account record missing: %v", err)
	}
	return own.aik, nil
}

func contactInfo(s *self, own identity.AccountPublicKey, ct *contact) (*ContactInfo, error) {
	sn, err := identity.NewSafetyNumber(s.aid, own, ct.aid, ct.aik)
	if err != nil {
		return nil, err
	}
	return &ContactInfo{
		Handle:                ct.rec.Handle,
		AccountID:             ct.aid,
		Blocked:               ct.rec.Blocked,
		IdentityChangePending: ct.rec.PendingAIK != nil,
		SafetyNumber:          sn,
		Devices:               len(ct.list.Devices),
	}, nil
}
