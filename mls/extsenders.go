package mls

import "golang.org/x/crypto/cryptobyte"

// parseExternalSenders decodes the external_senders extension (RFC 9420,
// Section 12.1.8.1): ExternalSender external_senders<V>.
func parseExternalSenders(data []byte) ([]externalSender, error) {
	var out []externalSender
	err := decodeAll(data, "external_senders", func(s *cryptobyte.String) bool {
		var v cryptobyte.String
		if !readVarVector(s, &v) {
			return false
		}
		for !v.Empty() {
			var e externalSender
			if !readVarBytes(&v, &e.signatureKey) || !e.credential.unmarshal(&v) {
				return false
			}
			out = append(out, e)
		}
		return true
	})
	return out, err
}

// ExternalSendersExtension builds an external_senders GroupContext extension
// from signature keys and credentials (equal lengths).
func ExternalSendersExtension(signatureKeys [][]byte, creds []Credential) Extension {
	var b cryptobyte.Builder
	addVarVector(&b, func(b *cryptobyte.Builder) {
		for i := range signatureKeys {
			addVarBytes(b, signatureKeys[i])
			creds[i].marshal(b)
		}
	})
	return Extension{Type: ExtensionExternalSenders, Data: b.BytesOrPanic()}
}

// ExternalSender is one entry of the external_senders extension.
type ExternalSender struct {
	SignatureKey []byte
	Credential   Credential
}

// ParseExternalSenders decodes the data of an external_senders extension.
func ParseExternalSenders(data []byte) ([]ExternalSender, error) {
	es, err := parseExternalSenders(data)
	if err != nil {
		return nil, err
	}
	out := make([]ExternalSender, len(es))
	for i, e := range es {
		out[i] = ExternalSender{SignatureKey: e.signatureKey, Credential: e.credential}
	}
	return out, nil
}
