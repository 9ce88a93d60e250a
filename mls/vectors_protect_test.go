package mls

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

func init() {
	register("transcript-hashes.json", func(t *testing.T, c *struct {
		CipherSuite          uint16   `json:"cipher_suite"`
		ConfirmationKey      hexBytes `json:"confirmation_key"`
		AuthenticatedContent hexBytes `json:"authenticated_content"`
		InterimBefore        hexBytes `json:"interim_transcript_hash_before"`
		ConfirmedAfter       hexBytes `json:"confirmed_transcript_hash_after"`
		InterimAfter         hexBytes `json:"interim_transcript_hash_after"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		ac := new(authenticatedContent)
		if err := decodeAll(c.AuthenticatedContent, "AuthenticatedContent", ac.unmarshal); err != nil {
			return err
		}
		if err := expectEqual("authenticated content", encode(ac), c.AuthenticatedContent); err != nil {
			return err
		}
		confirmed := s.confirmedTranscriptHash(c.InterimBefore, ac)
		if !hmac.Equal(s.mac(c.ConfirmationKey, confirmed), ac.auth.confirmationTag) {
			return errors.New("confirmation tag does not verify")
		}
		return errors.Join(expectEqual("confirmed", confirmed, c.ConfirmedAfter),
			expectEqual("interim", s.interimTranscriptHash(confirmed, ac.auth.confirmationTag), c.InterimAfter))
	})

	register("message-protection.json", func(t *testing.T, c *struct {
		CipherSuite             uint16   `json:"cipher_suite"`
		GroupID                 hexBytes `json:"group_id"`
		Epoch                   uint64   `json:"epoch"`
		TreeHash                hexBytes `json:"tree_hash"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		SignaturePriv           hexBytes `json:"signature_priv"`
		SignaturePub            hexBytes `json:"signature_pub"`
		EncryptionSecret        hexBytes `json:"encryption_secret"`
		SenderDataSecret        hexBytes `json:"sender_data_secret"`
		MembershipKey           hexBytes `json:"membership_key"`
		Proposal                hexBytes `json:"proposal"`
		ProposalPriv            hexBytes `json:"proposal_priv"`
		ProposalPub             hexBytes `json:"proposal_pub"`
		Commit                  hexBytes `json:"commit"`
		CommitPriv              hexBytes `json:"commit_priv"`
		CommitPub               hexBytes `json:"commit_pub"`
		Application             hexBytes `json:"application"`
		ApplicationPriv         hexBytes `json:"application_priv"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		gc := groupContext{cipherSuite: CipherSuite(c.CipherSuite), groupID: c.GroupID, epoch: c.Epoch,
			treeHash: c.TreeHash, confirmedTranscriptHash: c.ConfirmedTranscriptHash}
		newKeys := func() *epochKeys {
			return &epochKeys{s: s, gc: gc, gcBytes: encode(&gc), senderDataSecret: c.SenderDataSecret,
				membershipKey: c.MembershipKey, secretTree: newSecretTree(s, c.EncryptionSecret, 2)}
		}
		key, err := NewSignaturePrivateKey(CipherSuite(c.CipherSuite), c.SignaturePriv)
		if err != nil {
			return err
		}
		// body returns the encoding of the content's body for comparison.
		body := func(ac *authenticatedContent) []byte {
			var b cryptobyte.Builder
			ac.content.marshalBody(&b)
			return b.BytesOrPanic()
		}
		wantBody := func(ct uint8, raw []byte) []byte {
			if ct == contentApplication {
				var b cryptobyte.Builder
				addVarBytes(&b, raw)
				return b.BytesOrPanic()
			}
			return raw
		}
		unprotect := func(e *epochKeys, msg []byte) (*authenticatedContent, error) {
			m, err := decodeMLSMessage(msg)
			if err != nil {
				return nil, err
			}
			var ac *authenticatedContent
			switch {
			case m.public != nil:
				ac, err = e.unprotectPublic(m.public)
			case m.private != nil:
				ac, err = e.unprotectPrivate(m.private)
			default:
				err = errors.New("not a framed message")
			}
			if err != nil {
				return nil, err
			}
			if !ac.verify(s, c.SignaturePub, e.gcBytes) {
				return nil, errors.New("bad signature")
			}
			return ac, nil
		}
		for _, tc := range []struct {
			name      string
			ct        uint8
			raw       []byte
			pub, priv []byte
		}{
			{"proposal", contentProposal, c.Proposal, c.ProposalPub, c.ProposalPriv},
			{"commit", contentCommit, c.Commit, c.CommitPub, c.CommitPriv},
			{"application", contentApplication, c.Application, nil, c.ApplicationPriv},
		} {
			want := wantBody(tc.ct, tc.raw)
			for _, msg := range [][]byte{tc.pub, tc.priv} {
				if msg == nil {
					continue
				}
				ac, err := unprotect(newKeys(), msg)
				if err != nil {
					return fmt.Errorf("%s: %w", tc.name, err)
				}
				if err := expectEqual(tc.name+" content", body(ac), want); err != nil {
					return err
				}
			}
			// Protect the content ourselves, as a PrivateMessage and (for
			// handshake content) a PublicMessage, and unprotect it.
			ac := &authenticatedContent{content: framedContent{groupID: c.GroupID, epoch: c.Epoch,
				sender: sender{typ: senderMember, index: 1}, contentType: tc.ct}}
			sbody := cryptobyte.String(want)
			if !ac.content.unmarshalBody(&sbody) || !sbody.Empty() {
				return fmt.Errorf("%s: cannot parse raw content", tc.name)
			}
			if tc.ct == contentCommit {
				ac.auth.confirmationTag = make([]byte, s.nh)
			}
			for _, wf := range []uint16{wireFormatPublicMessage, wireFormatPrivateMessage} {
				ac.wireFormat = wf
				if err := ac.sign(s, key, encode(&gc)); err != nil {
					return err
				}
				sender := newKeys()
				m := &mlsMessage{wireFormat: wf}
				if wf == wireFormatPublicMessage {
					if tc.ct == contentApplication {
						continue // application data MUST NOT be sent as PublicMessage
					}
					m.public = sender.protectPublic(ac)
				} else {
					m.private, err = sender.protectPrivate(ac, 7, rand.Reader)
					if err != nil {
						return err
					}
				}
				got, err := unprotect(newKeys(), encode(m))
				if err != nil {
					return fmt.Errorf("%s: own message (wire format %d): %w", tc.name, wf, err)
				}
				if err := expectEqual(tc.name+" own content", body(got), want); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
