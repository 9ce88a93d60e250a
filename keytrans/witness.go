package keytrans

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// MaxConsistencyProofLines is the most consistency proof lines an
// add-checkpoint request may carry ("The client MUST NOT send more than 63").
const MaxConsistencyProofLines = 63

// AddCheckpointRequest is the body of a C2SP tlog-witness add-checkpoint
// call: the old size, a consistency proof and a signed checkpoint.
type AddCheckpointRequest struct {
	OldSize int64
	Proof   tlog.TreeProof
	// Checkpoint is the signed note as sent; Origin is its origin line
	// (unverified until AddCheckpoint checks the signature).
	Checkpoint []byte
	Origin     string
}

// Marshal encodes the request body (tlog-witness, "add-checkpoint").
func (r *AddCheckpointRequest) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseAddCheckpointRequest parses an add-checkpoint body. It checks the
// framing and the checkpoint's body form; signatures are checked by
// Witness.AddCheckpoint. A parse failure maps to "400 Bad Request".
func ParseAddCheckpointRequest(body []byte) (*AddCheckpointRequest, error) {
	if len(body) > MaxCheckpointSize+(MaxConsistencyProofLines+1)*64 {
		return nil, errors.New("keytrans: add-checkpoint request too large")
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok || !bytes.HasPrefix(line, []byte("old ")) {
		return nil, errors.New("keytrans: add-checkpoint: missing old size line")
	}
	old, err := parseDecimal(string(line[len("old "):]))
	if err != nil {
		return nil, errors.New("keytrans: add-checkpoint: malformed old size")
	}
	r := &AddCheckpointRequest{OldSize: old}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, errors.New("keytrans: add-checkpoint: missing empty line")
		}
		if len(line) == 0 {
			break
		}
		if len(r.Proof) == MaxConsistencyProofLines {
			return nil, errors.New("keytrans: add-checkpoint: too many proof lines")
		}
		h, err := decodeBase64(string(line))
		if err != nil || len(h) != tlog.HashSize {
			return nil, errors.New("keytrans: add-checkpoint: malformed proof line")
		}
		r.Proof = append(r.Proof, tlog.Hash(h))
	}
	text, _, ok := bytes.Cut(rest, []byte("\n\n"))
	if !ok {
		return nil, errors.New("keytrans: add-checkpoint: malformed checkpoint note")
	}
	c, err := ParseCheckpointBody(append(text, '\n'))
	if err != nil {
		return nil, err
	}
	r.Checkpoint, r.Origin = rest, c.Origin
	return r, nil
}

// WitnessState is what a witness remembers about one log: the latest
// checkpoint it cosigned. The zero value means "never cosigned".
type WitnessState struct {
	Size int64
	Hash tlog.Hash
}

// WitnessError is an add-checkpoint refusal, with the HTTP status the
// tlog-witness spec assigns to it.
type WitnessError struct {
	// Status is 400, 403, 404, 409 or 422.
	Status int
	// LatestSize is set with 409: the size of the latest cosigned checkpoint,
	// to be sent as the text/x.tlog.size body.
	LatestSize int64
	msg        string
}

func (e *WitnessError) Error() string { return "keytrans: witness: " + e.msg }

// ConflictBody returns the 409 response body: the latest size in decimal and
// a newline (Content-Type text/x.tlog.size).
func (e *WitnessError) ConflictBody() []byte { return fmt.Appendf(nil, "%d\n", e.LatestSize) }

// Witness is the pure core of a C2SP tlog-witness: it verifies submitted
// checkpoints against the log keys it trusts and its record of each log, and
// cosigns them. The caller stores WitnessState per origin and MUST make
// "checking the old size against the latest checkpoint and persisting the
// new checkpoint" atomic (tlog-witness, add-checkpoint).
type Witness struct {
	cosigner *Cosigner
	logs     map[string]LogKey
}

// NewWitness returns a witness cosigning with c for the given logs.
func NewWitness(c *Cosigner, logs []LogKey) (*Witness, error) {
	w := &Witness{cosigner: c, logs: make(map[string]LogKey, len(logs))}
	for _, l := range logs {
		if _, err := l.verifier(); err != nil {
			return nil, err
		}
		if _, dup := w.logs[l.Origin]; dup {
			return nil, errors.New("keytrans: witness: duplicate log origin")
		}
		w.logs[l.Origin] = l
	}
	return w, nil
}

// Cosigner returns the witness's key.
func (w *Witness) Cosigner() *Cosigner { return w.cosigner }

// AddCheckpoint runs the add-checkpoint checks of tlog-witness against the
// stored state for req.Origin and, if they pass, returns the new state to
// persist and the cosignature line(s) to send with "200". Refusals are
// *WitnessError.
func (w *Witness) AddCheckpoint(req *AddCheckpointRequest, stored WitnessState, now time.Time) (WitnessState, []byte, error) {
	log, ok := w.logs[req.Origin]
	if !ok {
		// "If the checkpoint origin is unknown, the witness MUST respond
		// with a 404 Not Found."
		return stored, nil, &WitnessError{Status: 404, msg: "unknown log origin"}
	}
	sc, err := openLogSigned(req.Checkpoint, log, false)
	if err != nil {
		// "If none of the signatures verify against a trusted public key,
		// the witness MUST respond with a 403 Forbidden."
		return stored, nil, &WitnessError{Status: 403, msg: "no valid log signature"}
	}
	c := sc.Checkpoint
	// "The old size MUST be equal to or lower than the checkpoint size."
	if req.OldSize > c.Size {
		return stored, nil, &WitnessError{Status: 400, msg: "old size above checkpoint size"}
	}
	// "The witness MUST check that the old size matches the size of the
	// latest checkpoint it cosigned ... If it doesn't match, 409 Conflict."
	if req.OldSize != stored.Size {
		return stored, nil, &WitnessError{Status: 409, LatestSize: stored.Size, msg: "old size does not match the latest cosigned size"}
	}
	if req.OldSize == c.Size {
		// "If the old size matches the checkpoint size, the witness MUST
		// check that the root hashes are also identical."
		if len(req.Proof) != 0 {
			return stored, nil, &WitnessError{Status: 422, msg: "non-empty consistency proof for equal sizes"}
		}
		want := stored.Hash
		if c.Size == 0 {
			want, _ = tlog.TreeHash(0, nil) // the empty tree's root, SHA-256("")
		}
		if c.Hash != want {
			return stored, nil, &WitnessError{Status: 409, LatestSize: stored.Size, msg: "root hash differs at the cosigned size"}
		}
	} else if req.OldSize == 0 {
		// "The proof MUST be empty if the old size is zero."
		if len(req.Proof) != 0 {
			return stored, nil, &WitnessError{Status: 422, msg: "non-empty consistency proof from size zero"}
		}
	} else if err := tlog.CheckTree(req.Proof, c.Size, c.Hash, req.OldSize, stored.Hash); err != nil {
		// "If the Merkle Consistency Proof doesn't verify, 422."
		return stored, nil, &WitnessError{Status: 422, msg: "consistency proof failed"}
	}
	body, _ := c.Body()
	line, err := w.cosigner.SignatureLine(body, now)
	if err != nil {
		return stored, nil, err
	}
	return WitnessState{Size: c.Size, Hash: c.Hash}, line, nil
}

// ParseCosignatureLines splits a witness's 200 response body into signature
// lines, checking that each starts with "— " and ends with a newline.
func ParseCosignatureLines(body []byte) ([][]byte, error) {
	if len(body) == 0 || len(body) > MaxCheckpointSize || body[len(body)-1] != '\n' {
		return nil, errors.New("keytrans: malformed cosignature response")
	}
	var lines [][]byte
	for _, l := range strings.SplitAfter(string(body[:len(body)-1]), "\n") {
		if !strings.HasPrefix(l, "— ") {
			return nil, errors.New("keytrans: malformed cosignature line")
		}
		lines = append(lines, []byte(strings.TrimSuffix(l, "\n")+"\n"))
	}
	return lines, nil
}
