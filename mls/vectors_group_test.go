package mls

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"testing"
)

type passiveCase struct {
	CipherSuite  uint16 `json:"cipher_suite"`
	ExternalPSKs []struct {
		PSKID hexBytes `json:"psk_id"`
		PSK   hexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage                hexBytes `json:"key_package"`
	SignaturePriv             hexBytes `json:"signature_priv"`
	EncryptionPriv            hexBytes `json:"encryption_priv"`
	InitPriv                  hexBytes `json:"init_priv"`
	Welcome                   hexBytes `json:"welcome"`
	RatchetTree               hexBytes `json:"ratchet_tree"`
	InitialEpochAuthenticator hexBytes `json:"initial_epoch_authenticator"`
	Epochs                    []struct {
		Proposals          []hexBytes `json:"proposals"`
		Commit             hexBytes   `json:"commit"`
		EpochAuthenticator hexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

func runPassive(t *testing.T, c *passiveCase) error {
	if _, err := suiteOrSkip(c.CipherSuite); err != nil {
		return err
	}
	kp, err := NewKeyPackageBundle(c.KeyPackage, c.InitPriv, c.EncryptionPriv, c.SignaturePriv)
	if err != nil {
		return err
	}
	psks := map[string][]byte{}
	for _, p := range c.ExternalPSKs {
		psks[string(p.PSKID)] = p.PSK
	}
	cfg := Config{ExternalPSK: func(id []byte) ([]byte, bool) { v, ok := psks[string(id)]; return v, ok }}
	g, err := JoinGroup(c.Welcome, kp, c.RatchetTree, cfg)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if err := expectEqual("initial epoch authenticator", g.EpochAuthenticator(), c.InitialEpochAuthenticator); err != nil {
		return err
	}
	for i, e := range c.Epochs {
		for j, p := range e.Proposals {
			if _, err := g.ProcessMessage(p); err != nil {
				return fmt.Errorf("epoch %d proposal %d: %w", i, j, err)
			}
		}
		if _, err := g.ProcessMessage(e.Commit); err != nil {
			return fmt.Errorf("epoch %d commit: %w", i, err)
		}
		if err := expectEqual(fmt.Sprintf("epoch %d authenticator", i), g.EpochAuthenticator(), e.EpochAuthenticator); err != nil {
			return err
		}
		// The state must survive serialization at every step.
		if err := checkStateRoundTrip(g); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	register("welcome.json", func(t *testing.T, c *struct {
		CipherSuite uint16   `json:"cipher_suite"`
		InitPriv    hexBytes `json:"init_priv"`
		KeyPackage  hexBytes `json:"key_package"`
		SignerPub   hexBytes `json:"signer_pub"`
		Welcome     hexBytes `json:"welcome"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		kp, err := parseKeyPackage(c.KeyPackage)
		if err != nil {
			return err
		}
		m, err := decodeMLSMessage(c.Welcome)
		if err != nil || m.welcome == nil {
			return fmt.Errorf("welcome: %v", err)
		}
		initPriv, err := parseHPKEPrivate(s, c.InitPriv)
		if err != nil {
			return err
		}
		ref := kp.ref(s)
		for _, egs := range m.welcome.secrets {
			if !bytes.Equal(egs.newMember, ref) {
				continue
			}
			gsb, err := s.decryptWithLabel(initPriv, "Welcome", m.welcome.encryptedGroupInfo, egs.encryptedGroupSecrets)
			if err != nil {
				return err
			}
			gs := new(groupSecrets)
			if err := decodeAll(gsb, "GroupSecrets", gs.unmarshal); err != nil {
				return err
			}
			key, nonce := s.welcomeKeyNonce(s.welcomeSecretFromJoiner(gs.joinerSecret, nil))
			aead, _ := s.newAEAD(key)
			gib, err := aead.Open(nil, nonce, m.welcome.encryptedGroupInfo, nil)
			if err != nil {
				return err
			}
			gi := new(groupInfo)
			if err := decodeAll(gib, "GroupInfo", gi.unmarshal); err != nil {
				return err
			}
			if !s.verifyWithLabel(c.SignerPub, "GroupInfoTBS", gi.tbs(), gi.signature) {
				return errors.New("GroupInfo signature does not verify")
			}
			gcb := encode(&gi.groupContext)
			es := s.deriveEpochSecrets(gs.joinerSecret, nil, gcb)
			if !hmac.Equal(s.mac(es.confirmationKey, gi.groupContext.confirmedTranscriptHash), gi.confirmationTag) {
				return errors.New("confirmation tag does not verify")
			}
			return nil
		}
		return errors.New("no entry for the key package")
	})
	register("passive-client-welcome.json", runPassive)
	for _, f := range []string{"application", "branch", "commit", "external_join", "external_proposals", "reinit", "welcome_join"} {
		register("interop-passive/"+f+".json", runPassive)
	}
}

var errStateMismatch = errors.New("state does not round-trip")

// checkStateRoundTrip serializes g, restores it, and requires identical
// bytes and identical behaviour (same exporter output).
func checkStateRoundTrip(g *Group) error {
	a, err := g.MarshalBinary()
	if err != nil {
		return err
	}
	h, err := UnmarshalGroup(a, g.cfg)
	if err != nil {
		return fmt.Errorf("restoring state: %w", err)
	}
	b, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return errStateMismatch
	}
	e1, _ := g.Export("state", nil, 16)
	e2, _ := h.Export("state", nil, 16)
	if !bytes.Equal(e1, e2) || !bytes.Equal(g.tree.rootHash(), h.tree.rootHash()) {
		return errStateMismatch
	}
	return nil
}
