package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/crypto/cryptobyte"

	"github.com/wardchat/ward/client/internal/db"
	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/pqxdh"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// Prekey refill sizes: one upload tops up to these counts (the server takes
// at most 200 of each kind per call).
const (
	OneTimePrekeyBatch = 100
	KEMPrekeyBatch     = 100
	// keptSignedPrekeys is how many signed prekeys are kept after a
	// rotation, so PrekeyMessages made from a recently replaced bundle
	// still decrypt.
	keptSignedPrekeys = 3
	// SignedPrekeyRotation is the age after which the next prekey upload
	// also replaces the signed prekey and the last-resort PQ prekey.
	SignedPrekeyRotation = 7 * 24 * time.Hour
)

// Register creates an account with this device as its primary device,
// then uploads a signed prekey, a last-resort PQ prekey and batches of
// one-time prekeys. inviteCode is needed when the server is invite-only.
func (c *Client) Register(ctx context.Context, handle string, band AgeBand, inviteCode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self != nil {
		return ErrAlreadyRegistered
	}
	aid, err := identity.NewAccountID(c.rand)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	aik, err := identity.GenerateAccountKey(c.rand)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	dk, err := identity.GenerateDeviceKeys(c.rand)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	list, err := identity.NewDeviceList(aid, identity.DeviceEntry{ID: identity.PrimaryDevice, DevicePublicKeys: dk.Public(), AddedAt: uint64(c.now().Unix())})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	signed, err := list.Sign(aik)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ch, err := c.conn.Accounts.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: aid[:], DeviceId: uint32(identity.PrimaryDevice)}))
	if err != nil {
		return fmt.Errorf("client: registration challenge: %w", err)
	}
	pub := dk.Public()
	pband := wardv1.AgeBand_AGE_BAND_ADULT
	if band == AgeTeen {
		pband = wardv1.AgeBand_AGE_BAND_TEEN
	}
	_, err = c.conn.Accounts.Register(ctx, connect.NewRequest(&wardv1.RegisterRequest{
		Handle:             handle,
		AgeBand:            pband,
		AccountId:          aid[:],
		AccountKey:         aik.Public().Bytes(),
		SignedDeviceList:   signed,
		Device:             &wardv1.DeviceKeys{DeviceId: uint32(identity.PrimaryDevice), SigningKey: pub.SigningKey, IdentityKey: pub.IdentityKey.Bytes()},
		InviteCode:         inviteCode,
		Challenge:          ch.Msg.GetNonce(),
		ChallengeSignature: dk.SignChallenge(ch.Msg.GetNonce()),
	}))
	if err != nil {
		return fmt.Errorf("client: register: %w", err)
	}
	s := &self{aid: aid, handle: handle, device: identity.PrimaryDevice, keys: dk, aik: aik}
	if err := c.saveSelf(ctx, s, signed); err != nil {
		return err
	}
	c.self = s
	c.conn.SetSigner(s)
	return c.refillPrekeys(ctx, true)
}

// saveSelf persists this device's identity and the account's own contact
// record (pinned AIK and verified device list).
func (c *Client) saveSelf(ctx context.Context, s *self, signedList []byte) error {
	return c.db.Update(ctx, func(tx *db.Tx) error {
		kb, err := s.keys.MarshalBinary()
		if err != nil {
			return err
		}
		if err := tx.Put(kvAccountID, s.aid[:]); err != nil {
			return err
		}
		if err := tx.Put(kvHandle, []byte(s.handle)); err != nil {
			return err
		}
		if err := putUint(tx, kvDeviceID, uint64(s.device)); err != nil {
			return err
		}
		if err := tx.Put(kvDeviceKeys, kb); err != nil {
			return err
		}
		if s.aik != nil {
			ab, err := s.aik.MarshalBinary()
			if err != nil {
				return err
			}
			if err := tx.Put(kvAIK, ab); err != nil {
				return err
			}
		}
		sdl, err := identity.ParseSignedDeviceList(signedList)
		if err != nil {
			return err
		}
		return tx.PutContact(&db.Contact{Account: s.aid[:], Handle: strings.ToLower(s.handle), AIK: sdl.Signer.Bytes(), List: signedList})
	})
}

// refillPrekeys generates and uploads one-time prekeys of both kinds and,
// with rotate, a new signed prekey and last-resort PQ prekey. Private
// parts are stored before the upload, so a prekey the server hands out is
// always one this device can use.
func (c *Client) refillPrekeys(ctx context.Context, rotate bool) error {
	s, err := c.requireSelf()
	if err != nil {
		return err
	}
	sk := s.keys.SigningKey()
	req := &wardv1.UploadPrekeysRequest{}
	err = c.db.Update(ctx, func(tx *db.Tx) error {
		next := func(key string) (uint32, error) {
			n, err := getUint(tx, key)
			if errors.Is(err, db.ErrNotFound) {
				n, err = 1, nil
			}
			if err != nil {
				return 0, err
			}
			return uint32(n), putUint(tx, key, n+1)
		}
		if at, err := getUint(tx, kvSPKRotatedAt); err != nil || c.now().Sub(time.UnixMilli(int64(at))) > SignedPrekeyRotation {
			rotate = true
		}
		if rotate {
			if err := putUint(tx, kvSPKRotatedAt, uint64(c.now().UnixMilli())); err != nil {
				return err
			}
			id, err := next(kvNextSPK)
			if err != nil {
				return err
			}
			spk, err := pqxdh.NewSignedPrekey(c.rand, sk, id)
			if err != nil {
				return err
			}
			if err := putPrekey(tx, db.SignedPrekey, id, spk); err != nil {
				return err
			}
			if id > keptSignedPrekeys {
				if err := tx.DeletePrekeysBelow(db.SignedPrekey, id-keptSignedPrekeys+1); err != nil {
					return err
				}
			}
			pubb, err := spk.Public().MarshalBinary()
			if err != nil {
				return err
			}
			req.SignedPrekey = &wardv1.Prekey{Id: id, Key: pubb}
			lid, err := next(kvNextKEM)
			if err != nil {
				return err
			}
			lr, err := pqxdh.NewKEMPrekey(c.rand, sk, lid, true)
			if err != nil {
				return err
			}
			if err := putPrekey(tx, db.KEMPrekey, lid, lr); err != nil {
				return err
			}
			if pubb, err = lr.Public().MarshalBinary(); err != nil {
				return err
			}
			req.LastResortPqPrekey = &wardv1.Prekey{Id: lid, Key: pubb}
		}
		for range OneTimePrekeyBatch {
			id, err := next(kvNextOTK)
			if err != nil {
				return err
			}
			k, err := pqxdh.NewOneTimePrekey(c.rand, id)
			if err != nil {
				return err
			}
			if err := putPrekey(tx, db.OneTimePrekey, id, k); err != nil {
				return err
			}
			pubb, err := k.Public().MarshalBinary()
			if err != nil {
				return err
			}
			req.OneTimePrekeys = append(req.OneTimePrekeys, &wardv1.Prekey{Id: id, Key: pubb})
		}
		for range KEMPrekeyBatch {
			id, err := next(kvNextKEM)
			if err != nil {
				return err
			}
			k, err := pqxdh.NewKEMPrekey(c.rand, sk, id, false)
			if err != nil {
				return err
			}
			if err := putPrekey(tx, db.KEMPrekey, id, k); err != nil {
				return err
			}
			pubb, err := k.Public().MarshalBinary()
			if err != nil {
				return err
			}
			req.OneTimePqPrekeys = append(req.OneTimePqPrekeys, &wardv1.Prekey{Id: id, Key: pubb})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("client: prekeys: %w", err)
	}
	if _, err := c.conn.Keys.UploadPrekeys(ctx, connect.NewRequest(req)); err != nil {
		return fmt.Errorf("client: upload prekeys: %w", err)
	}
	return nil
}

type marshaler interface{ MarshalBinary() ([]byte, error) }

func putPrekey(tx *db.Tx, kind int, id uint32, k marshaler) error {
	b, err := k.MarshalBinary()
	if err != nil {
		return err
	}
	return tx.PutPrekey(kind, id, b)
}

// prekeyStore reads this device's private prekeys for session.Peer.Decrypt.
type prekeyStore struct{ tx *db.Tx }

func (p prekeyStore) SignedPrekey(id uint32) (*pqxdh.SignedPrekeyPrivate, error) {
	b, err := p.tx.Prekey(db.SignedPrekey, id)
	if err != nil {
		return nil, err
	}
	return pqxdh.ParseSignedPrekeyPrivate(b)
}

func (p prekeyStore) OneTimePrekey(id uint32) (*pqxdh.OneTimePrekeyPrivate, error) {
	b, err := p.tx.Prekey(db.OneTimePrekey, id)
	if err != nil {
		return nil, err
	}
	return pqxdh.ParseOneTimePrekeyPrivate(b)
}

func (p prekeyStore) KEMPrekey(id uint32) (*pqxdh.KEMPrekeyPrivate, error) {
	b, err := p.tx.Prekey(db.KEMPrekey, id)
	if err != nil {
		return nil, err
	}
	return pqxdh.ParseKEMPrekeyPrivate(b)
}

// Linking (DESIGN.md section 2, identity.LinkOffer).

const linkApprovalVersion = 1

// linkApproval is what the primary hands back to the new device once it
// has published the device list that includes it:
//
//	struct {
//	    uint8  version = 1;
//	    opaque account_id[16];
//	    opaque account_key[32];   // the AIK, so the new device pins it out of band
//	    uint32 device_id;         // the id the new device got in the list
//	    opaque handle<1..255>;
//	} LinkApproval;
//
// It travels over the same channel as the offer (QR code or pasted text),
// base64url without padding.
type linkApproval struct {
	aid    identity.AccountID
	aik    identity.AccountPublicKey
	device identity.DeviceID
	handle string
}

func (a *linkApproval) marshal() string {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(linkApprovalVersion)
	b.AddBytes(a.aid[:])
	b.AddBytes(a.aik.Bytes())
	b.AddUint32(uint32(a.device))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(a.handle)) })
	return base64.RawURLEncoding.EncodeToString(b.BytesOrPanic())
}

func parseLinkApproval(text string) (*linkApproval, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, errors.New("client: malformed link approval")
	}
	s := cryptobyte.String(raw)
	var v uint8
	var aid, aik []byte
	var dev uint32
	var h cryptobyte.String
	if !s.ReadUint8(&v) || v != linkApprovalVersion || !s.ReadBytes(&aid, identity.AccountIDSize) ||
		!s.ReadBytes(&aik, identity.AccountPublicKeySize) || !s.ReadUint32(&dev) ||
		!s.ReadUint8LengthPrefixed(&h) || h.Empty() || !s.Empty() || dev <= uint32(identity.PrimaryDevice) {
		return nil, errors.New("client: malformed link approval")
	}
	a := &linkApproval{device: identity.DeviceID(dev), handle: string(h)}
	copy(a.aid[:], aid)
	if a.aik, err = identity.ParseAccountPublicKey(aik); err != nil || a.aid.IsZero() {
		return nil, errors.New("client: malformed link approval")
	}
	return a, nil
}

// BeginLink starts linking this (new, empty) device to the account of
// handle. It returns the offer to show to the primary device (text for a
// QR code or to paste) and the six-digit code both screens show. The
// device's keys are stored, so CompleteLink may run after a restart.
func (c *Client) BeginLink(ctx context.Context, handle string, deviceName string) (offer, code string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self != nil {
		return "", "", ErrAlreadyRegistered
	}
	dk, err := identity.GenerateDeviceKeys(c.rand)
	if err != nil {
		return "", "", fmt.Errorf("client: %w", err)
	}
	o, err := identity.NewLinkOffer(c.rand, dk.Public(), identity.AccountID{}, deviceName)
	if err != nil {
		return "", "", fmt.Errorf("client: %w", err)
	}
	enc, err := o.Marshal()
	if err != nil {
		return "", "", fmt.Errorf("client: %w", err)
	}
	code, err = o.Code()
	if err != nil {
		return "", "", fmt.Errorf("client: %w", err)
	}
	kb, err := dk.MarshalBinary()
	if err != nil {
		return "", "", fmt.Errorf("client: %w", err)
	}
	err = c.db.Update(ctx, func(tx *db.Tx) error {
		if err := tx.Put(kvLinkKeys, kb); err != nil {
			return err
		}
		return tx.Put(kvLinkHandle, []byte(handle))
	})
	if err != nil {
		return "", "", err
	}
	return base64.RawURLEncoding.EncodeToString(enc), code, nil
}

// ApproveLink, on the primary device, adds the device that made offer to
// the account: it checks that code (as the user read it on the new device)
// matches the offer, signs a device list with the device added, publishes
// it, and returns the approval to give to the new device's CompleteLink.
func (c *Client) ApproveLink(ctx context.Context, offer, code string) (approval string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return "", err
	}
	if s.aik == nil {
		return "", ErrNotPrimary
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(offer))
	if err != nil {
		return "", errors.New("client: malformed link offer")
	}
	o, err := identity.ParseLinkOffer(raw)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	if !o.CheckCode(strings.TrimSpace(code)) {
		return "", ErrLinkCode
	}
	if !o.AccountIDHint.IsZero() && o.AccountIDHint != s.aid {
		return "", errors.New("client: the offer is for another account")
	}
	// Start from the account's current verified list.
	ct, err := c.refreshContact(ctx, "", &s.aid)
	if err != nil {
		return "", err
	}
	next, err := ct.list.WithDevice(o.DeviceEntry(uint64(c.now().Unix())))
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	signed, err := next.Sign(s.aik)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	if _, err := c.conn.Accounts.PublishDeviceList(ctx, connect.NewRequest(&wardv1.PublishDeviceListRequest{SignedDeviceList: signed})); err != nil {
		return "", fmt.Errorf("client: publish device list: %w", err)
	}
	if _, err := c.acceptList(ctx, ct, signed, true); err != nil {
		return "", err
	}
	var id identity.DeviceID
	for _, d := range next.Devices {
		if d.DevicePublicKeys.Equal(o.Keys) {
			id = d.ID
		}
	}
	return (&linkApproval{aid: s.aid, aik: s.aik.Public(), device: id, handle: s.handle}).marshal(), nil
}

// CompleteLink, on the new device, finishes linking with the approval the
// primary returned: it waits until the account's device list (verified
// under the AIK carried by the approval, not one the server chose) contains
// this device with its keys, then stores its identity and uploads prekeys.
func (c *Client) CompleteLink(ctx context.Context, approval string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self != nil {
		return ErrAlreadyRegistered
	}
	a, err := parseLinkApproval(approval)
	if err != nil {
		return err
	}
	var dk *identity.DeviceKeys
	var wantHandle string
	err = c.db.View(ctx, func(tx *db.Tx) error {
		kb, err := tx.Get(kvLinkKeys)
		if err != nil {
			return err
		}
		h, err := tx.Get(kvLinkHandle)
		wantHandle = string(h)
		if err != nil {
			return err
		}
		dk, err = identity.ParseDeviceKeys(kb)
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		return errors.New("client: CompleteLink without BeginLink")
	}
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if wantHandle != "" && !strings.EqualFold(wantHandle, a.handle) {
		return fmt.Errorf("client: the approval is for %q, not %q", a.handle, wantHandle)
	}
	s := &self{aid: a.aid, handle: a.handle, device: a.device, keys: dk}
	c.conn.SetSigner(s)
	var signed []byte
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		signed, err = c.linkedList(ctx, s, a.aik)
		if err == nil {
			break
		}
		c.log.Debug("waiting for the device list", "err", err)
		select {
		case <-ctx.Done():
			c.conn.SetSigner(nil)
			return fmt.Errorf("client: link not completed: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	if err := c.saveSelf(ctx, s, signed); err != nil {
		return err
	}
	c.self = s
	return c.refillPrekeys(ctx, true)
}

// linkedList fetches the account's device list and checks that it is
// signed by aik and holds this device's keys.
func (c *Client) linkedList(ctx context.Context, s *self, aik identity.AccountPublicKey) ([]byte, error) {
	res, err := c.conn.Accounts.Lookup(ctx, connect.NewRequest(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_AccountId{AccountId: s.aid[:]}}))
	if err != nil {
		return nil, err
	}
	signed := res.Msg.GetSignedDeviceList()
	list, err := identity.VerifyDeviceList(signed, aik, nil)
	if err != nil {
		return nil, err
	}
	d, ok := list.Device(s.device)
	if list.AccountID != s.aid || !ok || !d.DevicePublicKeys.Equal(s.keys.Public()) {
		return nil, ErrUntrustedDevice
	}
	return signed, nil
}

// Device is one device of this account.
type Device struct {
	ID      identity.DeviceID
	Name    string
	AddedAt time.Time // zero if not recorded
	Current bool      // this device
}

// Devices returns the devices of this account from its verified device
// list, refreshed from the server.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return nil, err
	}
	ct, err := c.refreshContact(ctx, "", &s.aid)
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(ct.list.Devices))
	for _, d := range ct.list.Devices {
		dev := Device{ID: d.ID, Name: d.Name, Current: d.ID == s.device}
		if d.AddedAt != 0 {
			dev.AddedAt = time.Unix(int64(d.AddedAt), 0)
		}
		out = append(out, dev)
	}
	return out, nil
}

// RemoveDevice, on the primary device, removes a device from the account:
// it signs and publishes a device list without it. The server drops the
// device's queue and prekeys and closes its stream (its Run returns
// ErrDeviceRemoved); contacts see a DeviceRemovedEvent when they next
// refresh the list.
func (c *Client) RemoveDevice(ctx context.Context, id identity.DeviceID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return err
	}
	if s.aik == nil {
		return ErrNotPrimary
	}
	ct, err := c.refreshContact(ctx, "", &s.aid)
	if err != nil {
		return err
	}
	next, err := ct.list.WithoutDevice(id)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	signed, err := next.Sign(s.aik)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if _, err := c.conn.Accounts.PublishDeviceList(ctx, connect.NewRequest(&wardv1.PublishDeviceListRequest{SignedDeviceList: signed})); err != nil {
		return fmt.Errorf("client: publish device list: %w", err)
	}
	_, err = c.acceptList(ctx, ct, signed, true)
	return err
}
