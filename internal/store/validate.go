package store

import (
	"fmt"
	"unicode/utf8"
)

// The Validate functions check the invariants every implementation enforces
// before touching the database, so both backends reject the same inputs with
// the same ErrInvalid.

// ValidateNewAccount checks a registration request.
func ValidateNewAccount(a *NewAccount) error {
	if a.Handle == "" || len(a.Handle) > MaxHandleLen || !utf8.ValidString(a.Handle) {
		return fmt.Errorf("%w: handle must be 1..%d bytes of UTF-8", ErrInvalid, MaxHandleLen)
	}
	if !a.AgeBand.Valid() {
		return fmt.Errorf("%w: unknown age band %q", ErrInvalid, a.AgeBand)
	}
	if err := CheckKey("account identity key", a.IdentityKey); err != nil {
		return err
	}
	if err := CheckTime(a.CreatedAt); err != nil {
		return err
	}
	u := a.DeviceList
	u.At = a.CreatedAt
	return ValidateDeviceListUpdate(&u)
}

// ValidateDeviceListUpdate checks a device list update: a version in range,
// non-empty signed bytes, at least one device, unique device ids and 32-byte
// keys.
func ValidateDeviceListUpdate(u *DeviceListUpdate) error {
	if err := CheckVersion(u.Version); err != nil {
		return err
	}
	if len(u.Signed) == 0 {
		return fmt.Errorf("%w: empty signed device list", ErrInvalid)
	}
	if len(u.Devices) == 0 {
		return fmt.Errorf("%w: device list names no device", ErrInvalid)
	}
	if err := CheckTime(u.At); err != nil {
		return err
	}
	seen := make(map[DeviceID]bool, len(u.Devices))
	for _, d := range u.Devices {
		if seen[d.ID] {
			return fmt.Errorf("%w: device %d listed twice", ErrInvalid, d.ID)
		}
		seen[d.ID] = true
		if err := CheckKey("device signing key", d.SigningKey); err != nil {
			return err
		}
		if err := CheckKey("device identity key", d.IdentityKey); err != nil {
			return err
		}
	}
	return nil
}

// ValidateInvite checks an invite.
func ValidateInvite(inv *Invite) error {
	if len(inv.CodeHash) == 0 {
		return fmt.Errorf("%w: empty invite code hash", ErrInvalid)
	}
	if inv.UsesLeft < 1 {
		return fmt.Errorf("%w: invite needs at least one use", ErrInvalid)
	}
	return CheckTime(inv.ExpiresAt)
}

// ValidatePrekey checks a prekey's bytes are present.
func ValidatePrekey(pk *Prekey) error {
	if len(pk.Key) == 0 {
		return fmt.Errorf("%w: empty prekey %d", ErrInvalid, pk.ID)
	}
	return nil
}

// ValidateBlob checks a new blob's metadata.
func ValidateBlob(b *Blob) error {
	if b.Size < 0 {
		return fmt.Errorf("%w: negative blob size", ErrInvalid)
	}
	if err := CheckTime(b.CreatedAt); err != nil {
		return err
	}
	return CheckTime(b.ExpiresAt)
}

// ValidateChallenge checks a challenge.
func ValidateChallenge(c *Challenge) error {
	if len(c.Nonce) == 0 {
		return fmt.Errorf("%w: empty nonce", ErrInvalid)
	}
	return CheckTime(c.ExpiresAt)
}
