package mls

import (
	"fmt"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// roundTrip decodes data with read, re-encodes with write and compares.
func roundTrip(name string, data []byte, v interface {
	marshaler
}, read func(s *cryptobyte.String) bool) error {
	if err := decodeAll(data, name, read); err != nil {
		return err
	}
	if got := encode(v); string(got) != string(data) {
		return fmt.Errorf("%s: re-encoding differs", name)
	}
	return nil
}

func init() {
	register("messages.json", func(t *testing.T, c *map[string]hexBytes) error {
		for k, data := range *c {
			var err error
			switch k {
			case "mls_welcome", "mls_group_info", "mls_key_package", "public_message_application",
				"public_message_proposal", "public_message_commit", "private_message":
				m := new(mlsMessage)
				err = roundTrip(k, data, m, m.unmarshal)
				want := map[string]uint16{"mls_welcome": wireFormatWelcome, "mls_group_info": wireFormatGroupInfo,
					"mls_key_package": wireFormatKeyPackage, "private_message": wireFormatPrivateMessage}[k]
				if want == 0 {
					want = wireFormatPublicMessage
				}
				if err == nil && m.wireFormat != want {
					err = fmt.Errorf("%s: wire format %d", k, m.wireFormat)
				}
			case "ratchet_tree":
				r := new(ratchetTreeExt)
				err = roundTrip(k, data, r, r.unmarshal)
			case "group_secrets":
				g := new(groupSecrets)
				err = roundTrip(k, data, g, g.unmarshal)
			case "commit":
				cm := new(commit)
				err = roundTrip(k, data, cm, cm.unmarshal)
			default:
				typ, ok := map[string]uint16{"add_proposal": proposalAdd, "update_proposal": proposalUpdate,
					"remove_proposal": proposalRemove, "pre_shared_key_proposal": proposalPSK,
					"re_init_proposal": proposalReInit, "external_init_proposal": proposalExternalInit,
					"group_context_extensions_proposal": proposalGroupContextExtensions}[k]
				if !ok {
					return fmt.Errorf("unknown field %q", k)
				}
				p := &proposal{typ: typ}
				err = roundTrip(k, data, bodyOnly{p}, p.unmarshalBody)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// bodyOnly encodes a proposal without its type (the vectors hold bodies).
type bodyOnly struct{ p *proposal }

func (b bodyOnly) marshal(bb *cryptobyte.Builder) {
	var inner cryptobyte.Builder
	b.p.marshal(&inner)
	bb.AddBytes(inner.BytesOrPanic()[2:])
}
