package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/wardchat/ward/franking"
	"github.com/wardchat/ward/internal/store"
)

// The franking tag keyring (DESIGN.md section 2, "Message franking": t =
// HMAC(K_epoch, c ‖ sender ‖ conversation ‖ timestamp ‖ message id)) is kept
// in the store's Secrets table under secretKeyring as
//
//	struct {
//	    uint8  version = 1;
//	    uint64 rotated_at;          // unix ms when the current key was made
//	    opaque keyring<1..2^24-1>;  // franking.Keyring.Marshal
//	} StoredKeyring;
//
// Every FrankingRotation the current key is replaced; the old key keeps
// verifying reports for FrankingRetention, then Prune drops it. Rotation
// goes through the store's compare-and-swap so that nodes sharing a
// database agree on one keyring.
const secretKeyring = "server/franking-keyring/v1"

type keyringState struct {
	kr        *franking.Keyring
	rotatedAt time.Time
	version   uint64 // Secrets version it was loaded from
}

func encodeKeyring(kr *franking.Keyring, rotatedAt time.Time) ([]byte, error) {
	raw, err := kr.Marshal()
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(1)
	b.AddUint64(uint64(rotatedAt.UnixMilli()))
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(raw) })
	return b.Bytes()
}

func decodeKeyring(v []byte) (*franking.Keyring, time.Time, error) {
	s := cryptobyte.String(v)
	var ver uint8
	var at uint64
	var raw cryptobyte.String
	if !s.ReadUint8(&ver) || ver != 1 || !s.ReadUint64(&at) || !s.ReadUint24LengthPrefixed(&raw) || !s.Empty() {
		return nil, time.Time{}, errors.New("server: stored franking keyring is malformed")
	}
	kr, err := franking.ParseKeyring(raw)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("server: stored franking keyring: %w", err)
	}
	return kr, time.UnixMilli(int64(at)), nil
}

// loadKeyring loads the keyring, creating it on first start.
func (s *Server) loadKeyring(ctx context.Context) error {
	for range 3 {
		v, ver, err := s.st.Secret(ctx, secretKeyring)
		if err == nil {
			kr, at, err := decodeKeyring(v)
			if err != nil {
				return err
			}
			s.keyring.Store(&keyringState{kr: kr, rotatedAt: at, version: ver})
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("server: loading franking keyring: %w", err)
		}
		kr, err := franking.GenerateKeyring(s.rand)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		now := s.now()
		enc, err := encodeKeyring(kr, now)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		ver, err = s.st.PutSecret(ctx, secretKeyring, enc, 0)
		if err == nil {
			s.keyring.Store(&keyringState{kr: kr, rotatedAt: now, version: ver})
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("server: storing franking keyring: %w", err)
		}
	}
	return errors.New("server: could not load or create the franking keyring")
}

// maintainKeyring reloads the keyring if another node changed it, rotates
// the current key when it is older than FrankingRotation and prunes retired
// keys past their retention. It returns whether it rotated.
func (s *Server) maintainKeyring(ctx context.Context) (bool, error) {
	s.krMu.Lock()
	defer s.krMu.Unlock()
	if err := s.loadKeyring(ctx); err != nil {
		return false, err
	}
	cur := s.keyring.Load()
	now := s.now()
	if now.Sub(cur.rotatedAt) < s.cfg.FrankingRotation {
		return false, nil
	}
	// Work on a copy: the current keyring keeps tagging until the new one
	// is committed.
	raw, err := cur.kr.Marshal()
	if err != nil {
		return false, err
	}
	kr, err := franking.ParseKeyring(raw)
	if err != nil {
		return false, err
	}
	if _, err := kr.Rotate(s.rand, uint64(now.Add(s.cfg.FrankingRetention).UnixMilli())); err != nil {
		return false, fmt.Errorf("server: rotating franking key: %w", err)
	}
	kr.Prune(uint64(now.UnixMilli()))
	enc, err := encodeKeyring(kr, now)
	if err != nil {
		return false, err
	}
	ver, err := s.st.PutSecret(ctx, secretKeyring, enc, cur.version)
	if errors.Is(err, store.ErrConflict) {
		// Another node rotated first; take its keyring.
		return false, s.loadKeyring(ctx)
	}
	if err != nil {
		return false, fmt.Errorf("server: storing rotated franking keyring: %w", err)
	}
	s.keyring.Store(&keyringState{kr: kr, rotatedAt: now, version: ver})
	s.log.Info("franking key rotated", "key_id", kr.CurrentID())
	return true, nil
}

// FrankingKeyring returns the current keyring, to verify reports.
func (s *Server) FrankingKeyring() *franking.Keyring { return s.keyring.Load().kr }
