package interop

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/thomas-vilte/mls-go/ciphersuite"
	"github.com/thomas-vilte/mls-go/credentials"
	mlsext "github.com/thomas-vilte/mls-go/extensions"
	"github.com/thomas-vilte/mls-go/framing"
	"github.com/thomas-vilte/mls-go/group"
	"github.com/thomas-vilte/mls-go/keypackages"
	"github.com/thomas-vilte/mls-go/treesync"
)

// MLSGo is the [Implementation] backed by github.com/thomas-vilte/mls-go
// v1.6.0, driven through its low-level group package (the same calls its
// high-level Client makes, minus the per-operation state serialisation that
// Client performs for its storage layer).
//
// mls-go draws all randomness from crypto/rand; the rand argument of
// NewClient is ignored.
type MLSGo struct{}

// Name implements [Implementation].
func (MLSGo) Name() string { return "mls-go" }

// NewClient implements [Implementation].
func (MLSGo) NewClient(identity []byte, suite Suite, _ io.Reader) (Client, error) {
	cs := ciphersuite.CipherSuite(suite)
	if !cs.IsSupported() {
		return nil, fmt.Errorf("mls-go: cipher suite %#04x: %w", uint16(suite), ErrUnsupported)
	}
	return &mlsgoClient{
		identity: bytes.Clone(identity),
		cs:       cs,
		psks:     map[string][]byte{},
	}, nil
}

type mlsgoPending struct {
	kp   *keypackages.KeyPackage
	priv *keypackages.KeyPackagePrivateKeys
}

type mlsgoClient struct {
	identity []byte
	cs       ciphersuite.CipherSuite
	pending  []mlsgoPending
	psks     map[string][]byte // external PSKs by id

	g   *group.Group
	sig *ciphersuite.SignaturePrivateKey
}

func (c *mlsgoClient) Identity() []byte { return c.identity }

func (c *mlsgoClient) newKeyPackage() (*keypackages.KeyPackage, *keypackages.KeyPackagePrivateKeys, error) {
	cred, _, err := credentials.GenerateCredentialWithKeyForCS(c.identity, c.cs)
	if err != nil {
		return nil, nil, fmt.Errorf("mls-go: credential: %w", err)
	}
	kp, priv, err := keypackages.Generate(cred, c.cs)
	if err != nil {
		return nil, nil, fmt.Errorf("mls-go: key package: %w", err)
	}
	return kp, priv, nil
}

func (c *mlsgoClient) KeyPackage() ([]byte, error) {
	kp, priv, err := c.newKeyPackage()
	if err != nil {
		return nil, err
	}
	c.pending = append(c.pending, mlsgoPending{kp, priv})
	return (&framing.MLSMessage{KeyPackage: kp.Marshal()}).Marshal(), nil
}

func (c *mlsgoClient) CreateGroup(groupID []byte) error {
	kp, priv, err := c.newKeyPackage()
	if err != nil {
		return err
	}
	g, err := group.NewGroup(group.NewGroupID(bytes.Clone(groupID)), c.cs, kp, priv)
	if err != nil {
		return fmt.Errorf("mls-go: create group: %w", err)
	}
	c.setGroup(g, priv.GetSignaturePrivateKey())
	return nil
}

func (c *mlsgoClient) setGroup(g *group.Group, sig *ciphersuite.SignaturePrivateKey) {
	c.g, c.sig = g, sig
	for id, v := range c.psks {
		g.LoadPsk([]byte(id), v)
	}
}

func (c *mlsgoClient) Join(welcome, ratchetTree []byte) error {
	if len(ratchetTree) > 0 {
		// group.JoinFromWelcome reads the tree only from the GroupInfo's
		// ratchet_tree extension and has no parameter for an
		// out-of-band tree (RFC 9420 Section 12.4.3.3).
		return fmt.Errorf("mls-go: join with an external ratchet tree: %w", ErrUnsupported)
	}
	msg, err := framing.UnmarshalMLSMessage(welcome)
	if err != nil {
		return fmt.Errorf("mls-go: welcome: %w", err)
	}
	if len(msg.Welcome) == 0 {
		return errors.New("mls-go: message is not a Welcome")
	}
	w, err := group.UnmarshalWelcome(msg.Welcome)
	if err != nil {
		return fmt.Errorf("mls-go: welcome: %w", err)
	}
	var psks map[string][]byte
	if len(c.psks) > 0 {
		psks = c.psks
	}
	var lastErr error
	for i, p := range c.pending {
		g, err := group.JoinFromWelcome(w, p.kp, p.priv, psks)
		if err != nil {
			lastErr = err
			continue
		}
		c.pending = append(c.pending[:i], c.pending[i+1:]...)
		c.setGroup(g, p.priv.GetSignaturePrivateKey())
		return nil
	}
	if lastErr == nil {
		lastErr = errors.New("no pending key package")
	}
	return fmt.Errorf("mls-go: join: %w", lastErr)
}

func (c *mlsgoClient) GroupInfo(externalTree bool) ([]byte, []byte, error) {
	gi, err := c.g.GetGroupInfoWithOptions(c.sig, group.WithRatchetTree(!externalTree), group.WithExternalPub(true))
	if err != nil {
		return nil, nil, fmt.Errorf("mls-go: group info: %w", err)
	}
	var tree []byte
	if externalTree {
		tree = c.g.MarshalRatchetTreeRFC()
	}
	return (&framing.MLSMessage{GroupInfo: gi.Marshal()}).Marshal(), tree, nil
}

func (c *mlsgoClient) ExternalJoin(groupInfo []byte, opts ExternalJoinOptions) ([]byte, error) {
	if len(opts.PSKs) > 0 {
		// group.ExternalCommit takes no PSK list.
		return nil, fmt.Errorf("mls-go: external commit with PSKs: %w", ErrUnsupported)
	}
	msg, err := framing.UnmarshalMLSMessage(groupInfo)
	if err != nil {
		return nil, fmt.Errorf("mls-go: group info: %w", err)
	}
	if len(msg.GroupInfo) == 0 {
		return nil, errors.New("mls-go: message is not a GroupInfo")
	}
	gi, err := group.UnmarshalGroupInfo(msg.GroupInfo)
	if err != nil {
		return nil, fmt.Errorf("mls-go: group info: %w", err)
	}
	cs := gi.GroupContext.CipherSuite
	if len(opts.RatchetTree) > 0 {
		tree, err := treesync.UnmarshalTreeFromExtension(opts.RatchetTree, cs)
		if err != nil {
			return nil, fmt.Errorf("mls-go: ratchet tree: %w", err)
		}
		gi.RatchetTree = tree
	}
	var prior *group.LeafNodeIndex
	if opts.RemovePrior {
		tree := gi.RatchetTree
		if tree == nil {
			for _, ext := range gi.Extensions {
				if ext.Type == mlsext.ExtensionTypeRatchetTree {
					if tree, err = treesync.UnmarshalTreeFromExtension(ext.Data, cs); err != nil {
						return nil, fmt.Errorf("mls-go: ratchet tree: %w", err)
					}
				}
			}
		}
		if tree == nil {
			return nil, errors.New("mls-go: remove prior: no ratchet tree")
		}
		for i := uint32(0); i < tree.NumLeaves; i++ {
			leaf := tree.GetLeaf(treesync.LeafIndex(i))
			if leaf != nil && leaf.State == treesync.NodeStatePresent && leaf.LeafData != nil &&
				leaf.LeafData.Credential != nil && bytes.Equal(leaf.LeafData.Credential.Identity, c.identity) {
				idx := group.LeafNodeIndex(i)
				prior = &idx
				break
			}
		}
		if prior == nil {
			return nil, errors.New("mls-go: remove prior: no leaf with this identity")
		}
	}
	cred, sig, err := credentials.GenerateCredentialWithKeyForCS(c.identity, cs)
	if err != nil {
		return nil, fmt.Errorf("mls-go: credential: %w", err)
	}
	g, staged, err := group.ExternalCommit(gi, cs, sig, sig.PublicKey(), prior, cred.Credential)
	if err != nil {
		return nil, fmt.Errorf("mls-go: external commit: %w", err)
	}
	c.setGroup(g, sig)
	ac := staged.AuthenticatedContent()
	return framing.NewMLSMessagePublic(&framing.PublicMessage{Content: ac.Content, Auth: ac.Auth}).Marshal(), nil
}

func (c *mlsgoClient) InstallPSK(id, secret []byte) error {
	c.psks[string(id)] = bytes.Clone(secret)
	if c.g != nil {
		c.g.LoadPsk(bytes.Clone(id), bytes.Clone(secret))
	}
	return nil
}

// sign wraps a proposal the group already stores into a signed PublicMessage.
func (c *mlsgoClient) sign(p *group.Proposal) ([]byte, error) {
	b, err := c.g.SignProposalAsPublicMessage(p, c.sig)
	if err != nil {
		return nil, fmt.Errorf("mls-go: sign proposal: %w", err)
	}
	return b, nil
}

func parseKeyPackage(b []byte) (*keypackages.KeyPackage, error) {
	msg, err := framing.UnmarshalMLSMessage(b)
	if err != nil {
		return nil, fmt.Errorf("mls-go: key package: %w", err)
	}
	if len(msg.KeyPackage) == 0 {
		return nil, errors.New("mls-go: message is not a KeyPackage")
	}
	kp, err := keypackages.UnmarshalKeyPackage(msg.KeyPackage)
	if err != nil {
		return nil, fmt.Errorf("mls-go: key package: %w", err)
	}
	return kp, nil
}

func (c *mlsgoClient) addProposal(keyPackage []byte) (*group.Proposal, error) {
	kp, err := parseKeyPackage(keyPackage)
	if err != nil {
		return nil, err
	}
	p, err := c.g.AddMember(kp)
	if err != nil {
		return nil, fmt.Errorf("mls-go: add: %w", err)
	}
	return p, nil
}

func (c *mlsgoClient) ProposeAdd(keyPackage []byte) ([]byte, error) {
	p, err := c.addProposal(keyPackage)
	if err != nil {
		return nil, err
	}
	return c.sign(p)
}

func (c *mlsgoClient) ProposeUpdate() ([]byte, error) {
	p, err := c.g.SelfUpdate(c.sig)
	if err != nil {
		return nil, fmt.Errorf("mls-go: update: %w", err)
	}
	return c.sign(p)
}

func (c *mlsgoClient) leafOf(identity []byte) (group.LeafNodeIndex, error) {
	for _, m := range c.g.GetMembers() {
		if m.Credential != nil && bytes.Equal(m.Credential.Identity, identity) {
			return m.LeafIndex, nil
		}
	}
	return 0, fmt.Errorf("mls-go: no member %q", identity)
}

func (c *mlsgoClient) removeProposal(identity []byte) (*group.Proposal, error) {
	leaf, err := c.leafOf(identity)
	if err != nil {
		return nil, err
	}
	p, err := c.g.RemoveMember(leaf)
	if err != nil {
		return nil, fmt.Errorf("mls-go: remove: %w", err)
	}
	return p, nil
}

func (c *mlsgoClient) ProposeRemove(identity []byte) ([]byte, error) {
	p, err := c.removeProposal(identity)
	if err != nil {
		return nil, err
	}
	return c.sign(p)
}

// nonce returns a fresh psk_nonce of length KDF.Nh (RFC 9420 Section 8.4).
func (c *mlsgoClient) nonce() []byte {
	n := make([]byte, c.cs.HashLength())
	rand.Read(n)
	return n
}

func (c *mlsgoClient) externalPSKProposal(id []byte) *group.Proposal {
	p := group.NewPreSharedKeyProposal(1, bytes.Clone(id)) // psktype external
	p.PreSharedKey.PskID.Nonce = c.nonce()
	c.g.Proposals().AddProposal(p, c.g.OwnLeafIndex())
	return p
}

func (c *mlsgoClient) resumptionPSKProposal(epoch uint64) *group.Proposal {
	p := group.NewResumptionPSKProposal(c.g.ID().AsSlice(), epoch, c.nonce())
	c.g.Proposals().AddProposal(p, c.g.OwnLeafIndex())
	return p
}

func (c *mlsgoClient) gceProposal(exts []Extension) *group.Proposal {
	ge := make([]group.Extension, len(exts))
	for i, e := range exts {
		ge[i] = group.Extension{Type: mlsext.ExtensionType(e.Type), Data: bytes.Clone(e.Data)}
	}
	p := group.NewGroupContextExtensionsProposal(ge)
	c.g.Proposals().AddProposal(p, c.g.OwnLeafIndex())
	return p
}

func (c *mlsgoClient) ProposeExternalPSK(id []byte) ([]byte, error) {
	return c.sign(c.externalPSKProposal(id))
}

func (c *mlsgoClient) ProposeResumptionPSK(epoch uint64) ([]byte, error) {
	return c.sign(c.resumptionPSKProposal(epoch))
}

func (c *mlsgoClient) ProposeGroupContextExtensions(exts []Extension) ([]byte, error) {
	return c.sign(c.gceProposal(exts))
}

func (c *mlsgoClient) Commit(opts CommitOptions) (*CommitOutput, error) {
	for _, kp := range opts.Adds {
		if _, err := c.addProposal(kp); err != nil {
			return nil, err
		}
	}
	for _, id := range opts.Removes {
		if _, err := c.removeProposal(id); err != nil {
			return nil, err
		}
	}
	for _, id := range opts.ExternalPSKs {
		c.externalPSKProposal(id)
	}
	for _, e := range opts.ResumptionPSKs {
		c.resumptionPSKProposal(e)
	}
	if opts.GroupContextExtensions != nil {
		c.gceProposal(*opts.GroupContextExtensions)
	}
	// mls-go sends an UpdatePath in every commit of a group with more than
	// one member, so ForcePath needs no action.
	staged, err := c.g.Commit(c.sig, c.sig.PublicKey(), nil)
	if err != nil {
		return nil, fmt.Errorf("mls-go: commit: %w", err)
	}
	var adds []*keypackages.KeyPackage
	for _, p := range staged.Proposals() {
		if p.Type == group.ProposalTypeAdd && p.Add != nil {
			adds = append(adds, p.Add.KeyPackage)
		}
	}
	joinerSecret := staged.JoinerSecret()
	if err := c.g.MergeCommit(staged); err != nil {
		return nil, fmt.Errorf("mls-go: merge commit: %w", err)
	}
	ac := staged.AuthenticatedContent()
	out := &CommitOutput{
		Commit: framing.NewMLSMessagePublic(&framing.PublicMessage{
			Content:       ac.Content,
			Auth:          ac.Auth,
			MembershipTag: staged.MembershipTag(),
		}).Marshal(),
	}
	if len(adds) > 0 {
		wopts := []group.CreateWelcomeOption{
			group.WithJoinerSecret(joinerSecret),
			group.WithPSKIDs(staged.PskIDs()),
			group.WithPSKSecret(staged.RawPskSecret()),
			group.WithStagedCommit(staged),
		}
		if opts.ExternalTree {
			wopts = append(wopts, group.WithGroupInfoOptions(group.WithRatchetTree(false)))
		}
		w, err := c.g.CreateWelcomeWithOpts(adds, c.sig, wopts...)
		if err != nil {
			return nil, fmt.Errorf("mls-go: welcome: %w", err)
		}
		out.Welcome = (&framing.MLSMessage{Welcome: w.Marshal()}).Marshal()
	}
	if opts.ExternalTree {
		out.RatchetTree = c.g.MarshalRatchetTreeRFC()
	}
	return out, nil
}

func (c *mlsgoClient) Process(b []byte) (EventKind, error) {
	msg, err := framing.UnmarshalMLSMessage(b)
	if err != nil {
		return 0, fmt.Errorf("mls-go: message: %w", err)
	}
	pm, ok := msg.AsPublic()
	if !ok {
		return 0, errors.New("mls-go: handshake message is not a PublicMessage")
	}
	kind := CommitApplied
	if pm.Content.ContentType() == framing.ContentTypeProposal {
		kind = ProposalStored
	}
	if err := c.g.ProcessPublicMessage(pm); err != nil {
		// mls-go fails a commit that removes the receiver ("own leaf not
		// found") instead of reporting the removal; recognise that case.
		if kind == CommitApplied && c.removedBy(pm) {
			return Removed, nil
		}
		return 0, fmt.Errorf("mls-go: process: %w", err)
	}
	if kind == CommitApplied && !c.present() {
		return Removed, nil
	}
	return kind, nil
}

// removedBy reports whether the commit in pm carries a Remove proposal, by
// value or by reference, for the client's own leaf.
func (c *mlsgoClient) removedBy(pm *framing.PublicMessage) bool {
	body, ok := pm.Content.Body.(framing.CommitBody)
	if !ok {
		return false
	}
	commit, err := group.UnmarshalCommit(body.Data)
	if err != nil {
		return false
	}
	me := c.g.OwnLeafIndex()
	removesMe := func(p *group.Proposal) bool {
		return p != nil && p.Type == group.ProposalTypeRemove && p.Remove != nil && p.Remove.Removed == me
	}
	for _, por := range commit.Proposals {
		if removesMe(por.Proposal) {
			return true
		}
		for _, sp := range c.g.StoredProposals() {
			if len(por.ProposalRef) > 0 && bytes.Equal(sp.Ref, por.ProposalRef) && removesMe(sp.Proposal) {
				return true
			}
		}
	}
	return false
}

// present reports whether the client's own leaf is still occupied by its key.
func (c *mlsgoClient) present() bool {
	leaf := c.g.GetTreeLeaf(c.g.OwnLeafIndex())
	return leaf != nil && leaf.State == treesync.NodeStatePresent && leaf.LeafData != nil &&
		bytes.Equal(leaf.LeafData.SigKeyBytes(), c.sig.PublicKey().AsSlice())
}

func (c *mlsgoClient) Protect(aad, plaintext []byte) ([]byte, error) {
	pm, err := c.g.SendApplicationMessage(plaintext, aad, c.sig)
	if err != nil {
		return nil, fmt.Errorf("mls-go: protect: %w", err)
	}
	return framing.NewMLSMessagePrivate(pm).Marshal(), nil
}

func (c *mlsgoClient) Unprotect(b []byte) ([]byte, []byte, error) {
	msg, err := framing.UnmarshalMLSMessage(b)
	if err != nil {
		return nil, nil, fmt.Errorf("mls-go: message: %w", err)
	}
	pm, ok := msg.AsPrivate()
	if !ok {
		return nil, nil, errors.New("mls-go: application message is not a PrivateMessage")
	}
	pt, aad, _, err := c.g.ReceiveApplicationMessage(pm)
	if err != nil {
		return nil, nil, fmt.Errorf("mls-go: unprotect: %w", err)
	}
	return aad, pt, nil
}

func (c *mlsgoClient) Epoch() uint64 { return c.g.Epoch().AsUint64() }

func (c *mlsgoClient) EpochAuthenticator() []byte { return c.g.EpochAuthenticator() }

func (c *mlsgoClient) Members() [][]byte {
	var ids [][]byte
	for i := uint32(0); ; i++ {
		leaf := c.g.GetTreeLeaf(group.LeafNodeIndex(i))
		if leaf == nil {
			return ids
		}
		if leaf.State == treesync.NodeStatePresent && leaf.LeafData != nil && leaf.LeafData.Credential != nil {
			ids = append(ids, bytes.Clone(leaf.LeafData.Credential.Identity))
		}
	}
}
