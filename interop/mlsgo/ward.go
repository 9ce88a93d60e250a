package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/wardchat/ward/mls"
	"golang.org/x/crypto/cryptobyte"
)

// Ward is the [Implementation] backed by Ward's own mls package
// (github.com/wardchat/ward/mls, resolved through the replace directive in
// this module's go.mod). Randomness comes from the rand given to NewClient;
// HPKE encapsulation draws from the system source (crypto/hpke allows no
// injection), so runs are not bit-for-bit reproducible.
//
// Not yet mapped, because the mls package exports no call for it: sending a
// resumption PSK proposal (ProposeResumptionPSK, CommitOptions.ResumptionPSKs)
// returns ErrUnsupported.
type Ward struct{}

// Name implements [Implementation].
func (Ward) Name() string { return "ward" }

// NewClient implements [Implementation].
func (Ward) NewClient(identity []byte, suite Suite, rand io.Reader) (Client, error) {
	cs := mls.CipherSuite(suite)
	if !cs.Supported() {
		return nil, fmt.Errorf("ward: cipher suite %#04x: %w", uint16(suite), ErrUnsupported)
	}
	c := &wardClient{
		identity: bytes.Clone(identity),
		cs:       cs,
		psks:     map[string][]byte{},
	}
	c.cfg = mls.Config{
		Rand: rand,
		ExternalPSK: func(id []byte) ([]byte, bool) {
			v, ok := c.psks[string(id)]
			return v, ok
		},
	}
	return c, nil
}

type wardClient struct {
	identity []byte
	cs       mls.CipherSuite
	cfg      mls.Config
	psks     map[string][]byte
	pending  []*mls.KeyPackageBundle
	g        *mls.Group
}

func (c *wardClient) Identity() []byte { return c.identity }

func (c *wardClient) cred() mls.Credential {
	return mls.Credential{Type: mls.CredentialBasic, Identity: c.identity}
}

func (c *wardClient) KeyPackage() ([]byte, error) {
	sig, err := mls.GenerateSignatureKey(c.cs, c.cfg.Rand)
	if err != nil {
		return nil, err
	}
	kp, err := mls.NewKeyPackage(c.cs, sig, c.cred(), mls.KeyPackageOptions{}, c.cfg.Rand)
	if err != nil {
		return nil, err
	}
	c.pending = append(c.pending, kp)
	return kp.KeyPackage(), nil
}

func (c *wardClient) CreateGroup(groupID []byte) error {
	sig, err := mls.GenerateSignatureKey(c.cs, c.cfg.Rand)
	if err != nil {
		return err
	}
	g, err := mls.NewGroup(c.cs, groupID, sig, c.cred(), nil, c.cfg)
	if err != nil {
		return err
	}
	c.g = g
	return nil
}

func (c *wardClient) Join(welcome, ratchetTree []byte) error {
	var errs []error
	for i, kp := range c.pending {
		g, err := mls.JoinGroup(welcome, kp, ratchetTree, c.cfg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.pending = append(c.pending[:i], c.pending[i+1:]...)
		c.g = g
		return nil
	}
	if len(errs) == 0 {
		return errors.New("ward: join: no pending key package")
	}
	return fmt.Errorf("ward: join: %w", errors.Join(errs...))
}

func (c *wardClient) GroupInfo(externalTree bool) ([]byte, []byte, error) {
	gi, err := c.g.GroupInfo(!externalTree)
	if err != nil {
		return nil, nil, err
	}
	var tree []byte
	if externalTree {
		tree = c.g.RatchetTree()
	}
	return gi, tree, nil
}

func (c *wardClient) ExternalJoin(groupInfo []byte, opts ExternalJoinOptions) ([]byte, error) {
	sig, err := mls.GenerateSignatureKey(c.cs, c.cfg.Rand)
	if err != nil {
		return nil, err
	}
	var eo mls.ExternalJoinOptions
	if opts.RemovePrior {
		if c.g == nil {
			return nil, errors.New("ward: remove prior: no earlier membership")
		}
		old := c.g.OwnLeafIndex()
		eo.RemoveOld = &old
	}
	for _, p := range opts.PSKs {
		c.psks[string(p.ID)] = bytes.Clone(p.Secret)
		eo.ExternalPSKs = append(eo.ExternalPSKs, p.ID)
	}
	g, commit, err := mls.JoinExternal(groupInfo, opts.RatchetTree, sig, c.cred(), eo, c.cfg)
	if err != nil {
		return nil, err
	}
	c.g = g
	return commit, nil
}

func (c *wardClient) InstallPSK(id, secret []byte) error {
	c.psks[string(id)] = bytes.Clone(secret)
	return nil
}

func (c *wardClient) ProposeAdd(kp []byte) ([]byte, error) { return c.g.ProposeAdd(kp) }

func (c *wardClient) ProposeUpdate() ([]byte, error) { return c.g.ProposeUpdate() }

func (c *wardClient) leafOf(identity []byte) (uint32, error) {
	for _, m := range c.g.Members() {
		if bytes.Equal(m.Credential.Identity, identity) {
			return m.Index, nil
		}
	}
	return 0, fmt.Errorf("ward: no member %q", identity)
}

func (c *wardClient) ProposeRemove(identity []byte) ([]byte, error) {
	leaf, err := c.leafOf(identity)
	if err != nil {
		return nil, err
	}
	return c.g.ProposeRemove(leaf)
}

func (c *wardClient) ProposeExternalPSK(id []byte) ([]byte, error) {
	return c.g.ProposeExternalPSK(id)
}

func (c *wardClient) ProposeResumptionPSK(uint64) ([]byte, error) {
	return nil, fmt.Errorf("ward: mls exports no resumption PSK proposal yet: %w", ErrUnsupported)
}

func (c *wardClient) ProposeGroupContextExtensions(exts []Extension) ([]byte, error) {
	return c.g.ProposeGroupContextExtensions(wardExts(exts))
}

func wardExts(exts []Extension) []mls.Extension {
	out := make([]mls.Extension, len(exts))
	for i, e := range exts {
		out[i] = mls.Extension{Type: e.Type, Data: bytes.Clone(e.Data)}
	}
	return out
}

func (c *wardClient) Commit(opts CommitOptions) (*CommitOutput, error) {
	if len(opts.ResumptionPSKs) > 0 {
		return nil, fmt.Errorf("ward: mls exports no resumption PSK proposal yet: %w", ErrUnsupported)
	}
	o := mls.CommitOptions{
		Add:                  opts.Adds,
		ExternalPSKs:         opts.ExternalPSKs,
		ForcePath:            opts.ForcePath,
		RatchetTreeInWelcome: !opts.ExternalTree,
	}
	for _, id := range opts.Removes {
		leaf, err := c.leafOf(id)
		if err != nil {
			return nil, err
		}
		o.Remove = append(o.Remove, leaf)
	}
	if opts.GroupContextExtensions != nil {
		o.Extensions = wardExts(*opts.GroupContextExtensions)
	}
	res, err := c.g.Commit(o)
	if err != nil {
		return nil, err
	}
	if _, err := c.g.MergePendingCommit(); err != nil {
		return nil, err
	}
	out := &CommitOutput{Commit: res.Commit, Welcome: res.Welcome}
	if opts.ExternalTree {
		out.RatchetTree = c.g.RatchetTree()
	}
	return out, nil
}

func (c *wardClient) Process(msg []byte) (EventKind, error) {
	ev, err := c.g.ProcessMessage(msg)
	if err != nil {
		return 0, err
	}
	switch e := ev.(type) {
	case *mls.ProposalEvent:
		return ProposalStored, nil
	case *mls.CommitEvent:
		if e.SelfRemoved {
			return Removed, nil
		}
		return CommitApplied, nil
	default:
		return 0, fmt.Errorf("ward: handshake message produced %T", ev)
	}
}

func (c *wardClient) Protect(aad, plaintext []byte) ([]byte, error) {
	return c.g.Protect(plaintext, aad)
}

func (c *wardClient) Unprotect(msg []byte) ([]byte, []byte, error) {
	ev, err := c.g.ProcessMessage(msg)
	if errors.Is(err, mls.ErrWrongEpoch) {
		if e, ok := privateMessageEpoch(msg); ok && e < c.g.Epoch() {
			// RFC 9420 Section 14 lets a client keep past epochs' secrets
			// for late messages; Ward's mls keeps none.
			return nil, nil, fmt.Errorf("ward: message of past epoch %d: %w", e, ErrUnsupported)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	am, ok := ev.(*mls.ApplicationMessage)
	if !ok {
		return nil, nil, fmt.Errorf("ward: unprotect produced %T", ev)
	}
	return am.AuthenticatedData, am.Data, nil
}

func (c *wardClient) Epoch() uint64 { return c.g.Epoch() }

func (c *wardClient) EpochAuthenticator() []byte { return c.g.EpochAuthenticator() }

func (c *wardClient) Members() [][]byte {
	var ids [][]byte
	for _, m := range c.g.Members() {
		ids = append(ids, bytes.Clone(m.Credential.Identity))
	}
	return ids
}

// privateMessageEpoch reads the epoch of an MLSMessage holding a
// PrivateMessage: version, wire_format, group_id<V>, epoch
// (RFC 9420 Sections 6 and 6.3).
func privateMessageEpoch(msg []byte) (uint64, bool) {
	s := cryptobyte.String(msg)
	var version, wireFormat uint16
	if !s.ReadUint16(&version) || !s.ReadUint16(&wireFormat) || wireFormat != 2 {
		return 0, false
	}
	// group_id is a variable-length vector with an RFC 9420 Section 2.1.2
	// varint length: the top two bits of the first byte give its size.
	var first uint8
	if !s.ReadUint8(&first) {
		return 0, false
	}
	n := uint64(first & 0x3f)
	for range (1 << (first >> 6)) - 1 {
		var b uint8
		if !s.ReadUint8(&b) {
			return 0, false
		}
		n = n<<8 | uint64(b)
	}
	var epoch uint64
	if !s.Skip(int(n)) || !s.ReadUint64(&epoch) {
		return 0, false
	}
	return epoch, true
}
