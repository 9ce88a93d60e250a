package mls

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

func init() {
	register("tree-math.json", func(t *testing.T, c *struct {
		NLeaves uint32    `json:"n_leaves"`
		NNodes  uint32    `json:"n_nodes"`
		Root    uint32    `json:"root"`
		Left    []*uint32 `json:"left"`
		Right   []*uint32 `json:"right"`
		Parent  []*uint32 `json:"parent"`
		Sibling []*uint32 `json:"sibling"`
	}) error {
		n := c.NLeaves
		if nodeWidth(n) != c.NNodes {
			return fmt.Errorf("n_nodes %d, want %d", nodeWidth(n), c.NNodes)
		}
		if uint32(root(n)) != c.Root {
			return fmt.Errorf("root %d, want %d", root(n), c.Root)
		}
		check := func(name string, want []*uint32, f func(x nodeIndex) (nodeIndex, bool)) error {
			for i, w := range want {
				got, ok := f(nodeIndex(i))
				if (w == nil) != !ok || (ok && uint32(got) != *w) {
					return fmt.Errorf("%s(%d) = %d,%v", name, i, got, ok)
				}
			}
			return nil
		}
		r := root(n)
		return errors.Join(
			check("left", c.Left, func(x nodeIndex) (nodeIndex, bool) {
				if x.isLeaf() {
					return 0, false
				}
				return left(x), true
			}),
			check("right", c.Right, func(x nodeIndex) (nodeIndex, bool) {
				if x.isLeaf() {
					return 0, false
				}
				return right(x), true
			}),
			check("parent", c.Parent, func(x nodeIndex) (nodeIndex, bool) {
				if x == r {
					return 0, false
				}
				return parent(x, n), true
			}),
			check("sibling", c.Sibling, func(x nodeIndex) (nodeIndex, bool) {
				if x == r {
					return 0, false
				}
				return sibling(x, n), true
			}))
	})

	register("deserialization.json", func(t *testing.T, c *struct {
		Header hexBytes `json:"vlbytes_header"`
		Length uint32   `json:"length"`
	}) error {
		s := cryptobyte.String(c.Header)
		n, ok := readVarint(&s)
		if !ok || !s.Empty() || n != c.Length {
			return fmt.Errorf("decoded %d ok=%v, want %d", n, ok, c.Length)
		}
		var b cryptobyte.Builder
		addVarint(&b, int(n))
		return expectEqual("re-encoded header", b.BytesOrPanic(), c.Header)
	})

	register("crypto-basics.json", func(t *testing.T, c *struct {
		CipherSuite uint16 `json:"cipher_suite"`
		RefHash     struct {
			Label string   `json:"label"`
			Out   hexBytes `json:"out"`
			Value hexBytes `json:"value"`
		} `json:"ref_hash"`
		ExpandWithLabel struct {
			Secret  hexBytes `json:"secret"`
			Label   string   `json:"label"`
			Context hexBytes `json:"context"`
			Length  int      `json:"length"`
			Out     hexBytes `json:"out"`
		} `json:"expand_with_label"`
		DeriveSecret struct {
			Label  string   `json:"label"`
			Out    hexBytes `json:"out"`
			Secret hexBytes `json:"secret"`
		} `json:"derive_secret"`
		DeriveTreeSecret struct {
			Secret     hexBytes `json:"secret"`
			Label      string   `json:"label"`
			Generation uint32   `json:"generation"`
			Length     int      `json:"length"`
			Out        hexBytes `json:"out"`
		} `json:"derive_tree_secret"`
		SignWithLabel struct {
			Priv      hexBytes `json:"priv"`
			Pub       hexBytes `json:"pub"`
			Content   hexBytes `json:"content"`
			Label     string   `json:"label"`
			Signature hexBytes `json:"signature"`
		} `json:"sign_with_label"`
		EncryptWithLabel struct {
			Priv       hexBytes `json:"priv"`
			Pub        hexBytes `json:"pub"`
			Label      string   `json:"label"`
			Context    hexBytes `json:"context"`
			Plaintext  hexBytes `json:"plaintext"`
			KEMOutput  hexBytes `json:"kem_output"`
			Ciphertext hexBytes `json:"ciphertext"`
		} `json:"encrypt_with_label"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		if err := expectEqual("ref_hash", s.refHash(c.RefHash.Label, c.RefHash.Value), c.RefHash.Out); err != nil {
			return err
		}
		e := c.ExpandWithLabel
		if err := expectEqual("expand_with_label", s.expandWithLabel(e.Secret, e.Label, e.Context, e.Length), e.Out); err != nil {
			return err
		}
		if err := expectEqual("derive_secret", s.deriveSecret(c.DeriveSecret.Secret, c.DeriveSecret.Label), c.DeriveSecret.Out); err != nil {
			return err
		}
		d := c.DeriveTreeSecret
		if err := expectEqual("derive_tree_secret", s.deriveTreeSecret(d.Secret, d.Label, d.Generation, d.Length), d.Out); err != nil {
			return err
		}
		sg := c.SignWithLabel
		if !s.verifyWithLabel(sg.Pub, sg.Label, sg.Content, sg.Signature) {
			return errors.New("sign_with_label: given signature does not verify")
		}
		key, err := NewSignaturePrivateKey(CipherSuite(c.CipherSuite), sg.Priv)
		if err != nil {
			return err
		}
		if err := expectEqual("signature public key", key.PublicKey(), sg.Pub); err != nil {
			return err
		}
		sig, err := s.signWithLabel(key, sg.Label, sg.Content)
		if err != nil {
			return err
		}
		if !s.verifyWithLabel(sg.Pub, sg.Label, sg.Content, sig) {
			return errors.New("sign_with_label: own signature does not verify")
		}
		if s.verifyWithLabel(sg.Pub, sg.Label+"x", sg.Content, sig) {
			return errors.New("sign_with_label: signature verifies under another label")
		}
		ew := c.EncryptWithLabel
		priv, err := s.kem.NewPrivateKey(ew.Priv)
		if err != nil {
			return err
		}
		if err := expectEqual("hpke public key", priv.PublicKey().Bytes(), ew.Pub); err != nil {
			return err
		}
		pt, err := s.decryptWithLabel(priv, ew.Label, ew.Context, hpkeCiphertext{ew.KEMOutput, ew.Ciphertext})
		if err != nil {
			return fmt.Errorf("decrypt_with_label: %w", err)
		}
		if err := expectEqual("decrypted plaintext", pt, ew.Plaintext); err != nil {
			return err
		}
		ct, err := s.encryptWithLabel(ew.Pub, ew.Label, ew.Context, ew.Plaintext)
		if err != nil {
			return err
		}
		pt, err = s.decryptWithLabel(priv, ew.Label, ew.Context, ct)
		if err != nil {
			return fmt.Errorf("own encrypt_with_label: %w", err)
		}
		return expectEqual("round-trip plaintext", pt, ew.Plaintext)
	})

	type stLeaf struct {
		Generation       uint32   `json:"generation"`
		ApplicationKey   hexBytes `json:"application_key"`
		ApplicationNonce hexBytes `json:"application_nonce"`
		HandshakeKey     hexBytes `json:"handshake_key"`
		HandshakeNonce   hexBytes `json:"handshake_nonce"`
	}
	register("secret-tree.json", func(t *testing.T, c *struct {
		CipherSuite      uint16   `json:"cipher_suite"`
		EncryptionSecret hexBytes `json:"encryption_secret"`
		SenderData       struct {
			SenderDataSecret hexBytes `json:"sender_data_secret"`
			Ciphertext       hexBytes `json:"ciphertext"`
			Key              hexBytes `json:"key"`
			Nonce            hexBytes `json:"nonce"`
		} `json:"sender_data"`
		Leaves [][]stLeaf `json:"leaves"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		kn := s.senderDataKeyNonce(c.SenderData.SenderDataSecret, c.SenderData.Ciphertext)
		if err := errors.Join(expectEqual("sender data key", kn.key, c.SenderData.Key),
			expectEqual("sender data nonce", kn.nonce, c.SenderData.Nonce)); err != nil {
			return err
		}
		tree := newSecretTree(s, c.EncryptionSecret, uint32(len(c.Leaves)))
		for i, gens := range c.Leaves {
			for _, g := range gens {
				hs, consumeHS, err := tree.get(leafIndex(i), ratchetHandshake, g.Generation)
				if err != nil {
					return err
				}
				consumeHS()
				app, consumeApp, err := tree.get(leafIndex(i), ratchetApplication, g.Generation)
				if err != nil {
					return err
				}
				consumeApp()
				if err := errors.Join(expectEqual("handshake key", hs.key, g.HandshakeKey),
					expectEqual("handshake nonce", hs.nonce, g.HandshakeNonce),
					expectEqual("application key", app.key, g.ApplicationKey),
					expectEqual("application nonce", app.nonce, g.ApplicationNonce)); err != nil {
					return fmt.Errorf("leaf %d generation %d: %w", i, g.Generation, err)
				}
				// The consumed generation must now be refused (replay).
				if _, _, err := tree.get(leafIndex(i), ratchetApplication, g.Generation); !errors.Is(err, ErrGenerationConsumed) {
					return fmt.Errorf("replayed generation accepted: %v", err)
				}
			}
		}
		return nil
	})

	register("key-schedule.json", func(t *testing.T, c *struct {
		CipherSuite       uint16   `json:"cipher_suite"`
		GroupID           hexBytes `json:"group_id"`
		InitialInitSecret hexBytes `json:"initial_init_secret"`
		Epochs            []struct {
			TreeHash                hexBytes `json:"tree_hash"`
			CommitSecret            hexBytes `json:"commit_secret"`
			PSKSecret               hexBytes `json:"psk_secret"`
			ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
			GroupContext            hexBytes `json:"group_context"`
			JoinerSecret            hexBytes `json:"joiner_secret"`
			WelcomeSecret           hexBytes `json:"welcome_secret"`
			InitSecret              hexBytes `json:"init_secret"`
			SenderDataSecret        hexBytes `json:"sender_data_secret"`
			EncryptionSecret        hexBytes `json:"encryption_secret"`
			ExporterSecret          hexBytes `json:"exporter_secret"`
			EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
			ExternalSecret          hexBytes `json:"external_secret"`
			ConfirmationKey         hexBytes `json:"confirmation_key"`
			MembershipKey           hexBytes `json:"membership_key"`
			ResumptionPSK           hexBytes `json:"resumption_psk"`
			ExternalPub             hexBytes `json:"external_pub"`
			Exporter                struct {
				Label   string   `json:"label"` // used as is (the hex text), as the generator does
				Context hexBytes `json:"context"`
				Length  int      `json:"length"`
				Secret  hexBytes `json:"secret"`
			} `json:"exporter"`
		} `json:"epochs"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		initSecret := c.InitialInitSecret
		for i, e := range c.Epochs {
			gc := groupContext{cipherSuite: CipherSuite(c.CipherSuite), groupID: c.GroupID, epoch: uint64(i),
				treeHash: e.TreeHash, confirmedTranscriptHash: e.ConfirmedTranscriptHash}
			gcb := encode(&gc)
			if err := expectEqual("group_context", gcb, e.GroupContext); err != nil {
				return err
			}
			joiner := s.joinerSecret(initSecret, e.CommitSecret, gcb)
			es := s.deriveEpochSecrets(joiner, e.PSKSecret, gcb)
			ext, err := s.externalKey(es.externalSecret)
			if err != nil {
				return err
			}
			if err := errors.Join(
				expectEqual("joiner_secret", es.joinerSecret, e.JoinerSecret),
				expectEqual("welcome_secret", es.welcomeSecret, e.WelcomeSecret),
				expectEqual("welcome_secret (joiner)", s.welcomeSecretFromJoiner(joiner, e.PSKSecret), e.WelcomeSecret),
				expectEqual("init_secret", es.initSecret, e.InitSecret),
				expectEqual("sender_data_secret", es.senderDataSecret, e.SenderDataSecret),
				expectEqual("encryption_secret", es.encryptionSecret, e.EncryptionSecret),
				expectEqual("exporter_secret", es.exporterSecret, e.ExporterSecret),
				expectEqual("epoch_authenticator", es.epochAuthenticator, e.EpochAuthenticator),
				expectEqual("external_secret", es.externalSecret, e.ExternalSecret),
				expectEqual("confirmation_key", es.confirmationKey, e.ConfirmationKey),
				expectEqual("membership_key", es.membershipKey, e.MembershipKey),
				expectEqual("resumption_psk", es.resumptionPSK, e.ResumptionPSK),
				expectEqual("external_pub", ext.PublicKey().Bytes(), e.ExternalPub),
				expectEqual("exporter", s.exporter(es.exporterSecret, e.Exporter.Label, e.Exporter.Context, e.Exporter.Length), e.Exporter.Secret),
			); err != nil {
				return fmt.Errorf("epoch %d: %w", i, err)
			}
			initSecret = es.initSecret
		}
		return nil
	})

	register("psk_secret.json", func(t *testing.T, c *struct {
		CipherSuite uint16 `json:"cipher_suite"`
		PSKs        []struct {
			PSKID    hexBytes `json:"psk_id"`
			PSK      hexBytes `json:"psk"`
			PSKNonce hexBytes `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret hexBytes `json:"psk_secret"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		var ids []preSharedKeyID
		var vals [][]byte
		for _, p := range c.PSKs {
			ids = append(ids, preSharedKeyID{PSKType: pskTypeExternal, PSKID: p.PSKID, PSKNonce: p.PSKNonce})
			vals = append(vals, p.PSK)
		}
		return expectEqual("psk_secret", s.pskSecret(ids, vals), c.PSKSecret)
	})
}
