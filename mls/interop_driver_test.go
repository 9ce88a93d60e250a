package mls

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
)

// An in-process driver for the interop-configs scenario scripts of the MLS
// working group's live interop runner: several clients of this package
// exchange wire bytes. After every commit all participants must agree on
// the epoch authenticator and protect/unprotect must round-trip.

type scriptStep struct {
	Action            string          `json:"action"`
	Actor             string          `json:"actor"`
	Members           []string        `json:"members"`
	Joiners           []string        `json:"joiners"`
	Joiner            string          `json:"joiner"`
	KeyPackage        *int            `json:"keyPackage"`
	ByReference       []int           `json:"byReference"`
	ByValue           []scriptValue   `json:"byValue"`
	ForcePath         bool            `json:"force_path"`
	ForcePath2        bool            `json:"forcePath"`
	ExternalTree      bool            `json:"external_tree"`
	ExternalTree2     bool            `json:"externalTree"`
	Removed           string          `json:"removed"`
	PSKID             *int            `json:"pskID"`
	EpochID           *uint64         `json:"epochID"`
	Extensions        []scriptExt     `json:"extensions"`
	Clients           []string        `json:"clients"`
	AuthenticatedData string          `json:"authenticatedData"`
	Plaintext         string          `json:"plaintext"`
	Ciphertext        *int            `json:"ciphertext"`
	PSKs              []int           `json:"psks"`
	RemovePrior       bool            `json:"removePrior"`
	Signer            string          `json:"signer"`
	Member            string          `json:"member"`
	Description       *scriptValue    `json:"description"`
	Proposer          string          `json:"proposer"`
	Committer         string          `json:"committer"`
	Welcomer          string          `json:"welcomer"`
	ExternalReinit    *int            `json:"externalReinitProposal"`
	ChangeGroupID     bool            `json:"changeGroupID"`
	ChangeCipherSuite bool            `json:"changeCiphersuite"`
	Raw               json.RawMessage `json:"-"`
}

type scriptExt struct {
	Type uint16 `json:"extension_type"`
	Data string `json:"extension_data"` // base64
}

type scriptValue struct {
	ProposalType      string      `json:"proposalType"`
	KeyPackage        *int        `json:"keyPackage"`
	Removed           string      `json:"removed"`
	PSKID             *int        `json:"pskID"`
	EpochID           *uint64     `json:"epochID"`
	Extensions        []scriptExt `json:"extensions"`
	ChangeGroupID     bool        `json:"changeGroupID"`
	ChangeCipherSuite bool        `json:"changeCipherSuite"`
}

func convertExts(in []scriptExt) ([]Extension, error) {
	out := []Extension{}
	for _, e := range in {
		d, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, Extension{Type: e.Type, Data: d})
	}
	return out, nil
}

type driverClient struct {
	name  string
	cs    CipherSuite
	sig   *SignaturePrivateKey
	cred  Credential
	rand  *detRand
	psks  map[string][]byte
	group *Group
	kps   []*KeyPackageBundle
	old   []*Group // groups left behind by reinit
}

func (c *driverClient) config() Config {
	return Config{Rand: c.rand, PastEpochs: 2,
		ExternalPSK: func(id []byte) ([]byte, bool) { v, ok := c.psks[string(id)]; return v, ok },
		ResumptionPSK: func(id []byte, epoch uint64) ([]byte, bool) {
			for _, g := range append(c.old, c.group) {
				if g != nil && bytes.Equal(g.GroupID(), id) {
					return g.ResumptionPSK(epoch)
				}
			}
			return nil, false
		}}
}

type pendingProposal struct {
	msg    []byte
	sender string // "" for non-members
}

type driver struct {
	t       *testing.T
	cs      CipherSuite
	clients map[string]*driverClient
	// results by step index
	kp         map[int][]byte
	kpOwner    map[int]string
	proposals  map[int]pendingProposal
	pskIDs     map[int][]byte
	ciphertext map[int][]byte
	plaintext  map[int][2]string
	protector  map[int]string
	signers    map[string]*SignaturePrivateKey
	groupSeq   int
}

func (d *driver) client(name string) *driverClient {
	if c, ok := d.clients[name]; ok {
		return c
	}
	r := newDetRand(name + d.cs.String())
	sig, err := GenerateSignatureKey(d.cs, r)
	if err != nil {
		d.t.Fatal(err)
	}
	c := &driverClient{name: name, cs: d.cs, sig: sig, cred: Credential{Type: CredentialBasic, Identity: []byte(name)},
		rand: r, psks: map[string][]byte{}}
	d.clients[name] = c
	return c
}

func (d *driver) newKeyPackage(c *driverClient) *KeyPackageBundle {
	kp, err := NewKeyPackage(c.cs, c.sig, c.cred, KeyPackageOptions{}, c.rand)
	if err != nil {
		d.t.Fatal(err)
	}
	c.kps = append(c.kps, kp)
	return kp
}

func (d *driver) groupOf(name string) (*Group, error) {
	c := d.client(name)
	if c.group == nil {
		return nil, fmt.Errorf("%s has no group", name)
	}
	return c.group, nil
}

func (d *driver) leafOf(name string) (uint32, error) {
	g, err := d.groupOf(name)
	if err != nil {
		return 0, err
	}
	return g.OwnLeafIndex(), nil
}

// join has name join from welcome with one of its KeyPackages.
func (d *driver) join(name string, welcome, tree []byte) error {
	c := d.client(name)
	var last error
	for i := len(c.kps) - 1; i >= 0; i-- {
		g, err := JoinGroup(welcome, c.kps[i], tree, c.config())
		if err == nil {
			if c.group != nil {
				c.old = append(c.old, c.group)
			}
			c.group = g
			return nil
		}
		last = err
	}
	return fmt.Errorf("%s cannot join: %v", name, last)
}

func (d *driver) agree(names ...string) error {
	var ref []byte
	for _, n := range names {
		g, err := d.groupOf(n)
		if err != nil {
			return err
		}
		if ref == nil {
			ref = g.EpochAuthenticator()
		} else if !bytes.Equal(ref, g.EpochAuthenticator()) {
			return fmt.Errorf("%s disagrees on the epoch authenticator", n)
		}
	}
	return nil
}

// deliver hands the given proposals to each recipient that did not send it.
func (d *driver) deliver(refs []int, recipients ...string) error {
	for _, r := range refs {
		p, ok := d.proposals[r]
		if !ok {
			return fmt.Errorf("step %d is not a proposal", r)
		}
		for _, n := range recipients {
			if n == p.sender {
				continue
			}
			g, err := d.groupOf(n)
			if err != nil {
				return err
			}
			if _, err := g.ProcessMessage(p.msg); err != nil {
				return fmt.Errorf("%s processing proposal %d: %w", n, r, err)
			}
		}
	}
	return nil
}

func (d *driver) commitOptions(committer string, values []scriptValue) (CommitOptions, error) {
	var opts CommitOptions
	for _, v := range values {
		switch v.ProposalType {
		case "add":
			opts.Add = append(opts.Add, d.kp[*v.KeyPackage])
		case "remove":
			l, err := d.leafOf(v.Removed)
			if err != nil {
				return opts, err
			}
			opts.Remove = append(opts.Remove, l)
		case "externalPSK":
			opts.ExternalPSKs = append(opts.ExternalPSKs, d.pskIDs[*v.PSKID])
		case "resumptionPSK":
			opts.ResumptionPSKs = append(opts.ResumptionPSKs, *v.EpochID)
		case "groupContextExtensions":
			exts, err := convertExts(v.Extensions)
			if err != nil {
				return opts, err
			}
			opts.Extensions = exts
		default:
			return opts, fmt.Errorf("unsupported byValue proposal %q", v.ProposalType)
		}
	}
	return opts, nil
}

// commit runs a commit by committer: members process it, joiners join.
func (d *driver) commit(committer string, opts CommitOptions, members, joiners []string, externalTree bool) error {
	g, err := d.groupOf(committer)
	if err != nil {
		return err
	}
	opts.RatchetTreeInWelcome = !externalTree
	res, err := g.Commit(opts)
	if err != nil {
		return fmt.Errorf("%s commit: %w", committer, err)
	}
	if _, err := g.ProcessMessage(res.Commit); err != nil {
		return fmt.Errorf("%s merge: %w", committer, err)
	}
	var still []string
	for _, m := range members {
		mg, err := d.groupOf(m)
		if err != nil {
			return err
		}
		ev, err := mg.ProcessMessage(res.Commit)
		if err != nil {
			return fmt.Errorf("%s processing commit: %w", m, err)
		}
		if ce, ok := ev.(*CommitEvent); ok && ce.SelfRemoved {
			d.client(m).group = nil
			continue
		}
		still = append(still, m)
	}
	var tree []byte
	if externalTree {
		tree = g.RatchetTree()
	}
	for _, j := range joiners {
		if err := d.join(j, res.Welcome, tree); err != nil {
			return err
		}
	}
	return d.agree(append(append([]string{committer}, still...), joiners...)...)
}

func (d *driver) otherSuite() CipherSuite {
	if d.cs == 1 {
		return 3
	}
	return 1
}

func (d *driver) step(i int, s *scriptStep) error {
	switch s.Action {
	case "createGroup":
		c := d.client(s.Actor)
		d.groupSeq++
		g, err := NewGroup(d.cs, []byte(fmt.Sprintf("group-%d-%s", d.groupSeq, s.Actor)), c.sig, c.cred, nil, c.config())
		if err != nil {
			return err
		}
		c.group = g
		if len(s.Members) == 0 {
			return nil
		}
		var kps [][]byte
		for _, m := range s.Members {
			kps = append(kps, d.newKeyPackage(d.client(m)).KeyPackage())
		}
		return d.commit(s.Actor, CommitOptions{Add: kps}, nil, s.Members, false)
	case "createKeyPackage":
		d.kp[i] = d.newKeyPackage(d.client(s.Actor)).KeyPackage()
		d.kpOwner[i] = s.Actor
	case "installExternalPSK":
		id := []byte(fmt.Sprintf("psk-id-%d", i))
		val := bytes.Repeat([]byte{byte(i)}, 32)
		d.pskIDs[i] = id
		for _, n := range s.Clients {
			d.client(n).psks[string(id)] = val
		}
	case "addProposal", "updateProposal", "removeProposal", "externalPSKProposal", "resumptionPSKProposal", "groupContextExtensionsProposal":
		g, err := d.groupOf(s.Actor)
		if err != nil {
			return err
		}
		var msg []byte
		switch s.Action {
		case "addProposal":
			msg, err = g.ProposeAdd(d.kp[*s.KeyPackage])
		case "updateProposal":
			msg, err = g.ProposeUpdate()
		case "removeProposal":
			var l uint32
			if l, err = d.leafOf(s.Removed); err == nil {
				msg, err = g.ProposeRemove(l)
			}
		case "externalPSKProposal":
			msg, err = g.ProposeExternalPSK(d.pskIDs[*s.PSKID])
		case "resumptionPSKProposal":
			msg, err = g.ProposeResumptionPSK(*s.EpochID)
		case "groupContextExtensionsProposal":
			var exts []Extension
			if exts, err = convertExts(s.Extensions); err == nil {
				msg, err = g.ProposeGroupContextExtensions(exts)
			}
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", s.Actor, s.Action, err)
		}
		d.proposals[i] = pendingProposal{msg: msg, sender: s.Actor}
	case "fullCommit", "commit":
		if err := d.deliver(s.ByReference, append([]string{s.Actor}, s.Members...)...); err != nil {
			return err
		}
		opts, err := d.commitOptions(s.Actor, s.ByValue)
		if err != nil {
			return err
		}
		opts.ForcePath = s.ForcePath || s.ForcePath2
		return d.commit(s.Actor, opts, s.Members, s.Joiners, s.ExternalTree || s.ExternalTree2)
	case "protect":
		g, err := d.groupOf(s.Actor)
		if err != nil {
			return err
		}
		ct, err := g.Protect([]byte(s.Plaintext), []byte(s.AuthenticatedData))
		if err != nil {
			return err
		}
		d.ciphertext[i] = ct
		d.plaintext[i] = [2]string{s.Plaintext, s.AuthenticatedData}
		d.protector[i] = s.Actor
	case "unprotect":
		g, err := d.groupOf(s.Actor)
		if err != nil {
			return err
		}
		ev, err := g.ProcessMessage(d.ciphertext[*s.Ciphertext])
		if err != nil {
			return fmt.Errorf("%s unprotect %d: %w", s.Actor, *s.Ciphertext, err)
		}
		am, ok := ev.(*ApplicationMessage)
		want := d.plaintext[*s.Ciphertext]
		if !ok || string(am.Data) != want[0] || string(am.AuthenticatedData) != want[1] {
			return fmt.Errorf("unprotect %d: got %+v", *s.Ciphertext, ev)
		}
		sl, _ := d.leafOf(d.protector[*s.Ciphertext])
		if am.Sender != sl {
			return fmt.Errorf("unprotect %d: sender %d, want %d", *s.Ciphertext, am.Sender, sl)
		}
	case "externalJoin":
		g, err := d.groupOf(s.Actor)
		if err != nil {
			return err
		}
		external := s.ExternalTree || s.ExternalTree2
		gi, err := g.GroupInfo(!external)
		if err != nil {
			return err
		}
		var tree []byte
		if external {
			tree = g.RatchetTree()
		}
		j := d.client(s.Joiner)
		opts := ExternalJoinOptions{}
		for _, p := range s.PSKs {
			// The joiner must hold the PSK too; the script installs it only
			// at the group's members.
			id := d.pskIDs[p]
			j.psks[string(id)] = d.client(s.Actor).psks[string(id)]
			opts.ExternalPSKs = append(opts.ExternalPSKs, id)
		}
		if s.RemovePrior {
			l, err := d.leafOf(s.Joiner)
			if err != nil {
				return err
			}
			opts.RemoveOld = &l
		}
		ng, commit, err := JoinExternal(gi, tree, j.sig, j.cred, opts, j.config())
		if err != nil {
			return fmt.Errorf("%s external join: %w", s.Joiner, err)
		}
		for _, m := range append([]string{s.Actor}, s.Members...) {
			mg, err := d.groupOf(m)
			if err != nil {
				return err
			}
			if _, err := mg.ProcessMessage(commit); err != nil {
				return fmt.Errorf("%s processing external commit: %w", m, err)
			}
		}
		j.group = ng
		return d.agree(append([]string{s.Actor, s.Joiner}, s.Members...)...)
	case "newMemberAddProposal":
		g, err := d.groupOf(s.Actor)
		if err != nil {
			return err
		}
		kp := d.newKeyPackage(d.client(s.Joiner))
		msg, err := NewJoinProposal(g.GroupID(), g.Epoch(), kp)
		if err != nil {
			return err
		}
		d.proposals[i] = pendingProposal{msg: msg}
	case "addExternalSigner":
		g, err := d.groupOf(s.Actor)
		if err != nil {
			return err
		}
		sig, ok := d.signers[s.Signer]
		if !ok {
			if sig, err = GenerateSignatureKey(d.cs, newDetRand(s.Signer+d.cs.String())); err != nil {
				return err
			}
			d.signers[s.Signer] = sig
		}
		var keys [][]byte
		var creds []Credential
		exts := []Extension{}
		for _, e := range g.Extensions() {
			if e.Type != ExtensionExternalSenders {
				exts = append(exts, e)
				continue
			}
			es, err := ParseExternalSenders(e.Data)
			if err != nil {
				return err
			}
			for _, x := range es {
				keys, creds = append(keys, x.SignatureKey), append(creds, x.Credential)
			}
		}
		keys = append(keys, sig.PublicKey())
		creds = append(creds, Credential{Type: CredentialBasic, Identity: []byte(s.Signer)})
		exts = append(exts, ExternalSendersExtension(keys, creds))
		msg, err := g.ProposeGroupContextExtensions(exts)
		if err != nil {
			return err
		}
		d.proposals[i] = pendingProposal{msg: msg, sender: s.Actor}
	case "externalSignerProposal":
		g, err := d.groupOf(s.Member)
		if err != nil {
			return err
		}
		sig := d.signers[s.Actor]
		idx := -1
		for _, e := range g.Extensions() {
			if e.Type != ExtensionExternalSenders {
				continue
			}
			es, _ := ParseExternalSenders(e.Data)
			for k, x := range es {
				if bytes.Equal(x.SignatureKey, sig.PublicKey()) {
					idx = k
				}
			}
		}
		if idx < 0 {
			return fmt.Errorf("%s is not an external sender", s.Actor)
		}
		spec, err := d.spec(g, s.Description)
		if err != nil {
			return err
		}
		msg, err := NewExternalProposal(d.cs, g.GroupID(), g.Epoch(), uint32(idx), sig, spec, newDetRand(fmt.Sprint(i)))
		if err != nil {
			return err
		}
		d.proposals[i] = pendingProposal{msg: msg}
	case "reinit":
		return d.reinit(i, s)
	case "branch":
		return d.branch(s)
	default:
		return fmt.Errorf("unknown action %q", s.Action)
	}
	return nil
}

func (d *driver) spec(g *Group, v *scriptValue) (ProposalSpec, error) {
	exts, err := convertExts(v.Extensions)
	if err != nil {
		return ProposalSpec{}, err
	}
	switch v.ProposalType {
	case "add":
		return ProposalSpec{Type: ProposalAdd, KeyPackage: d.kp[*v.KeyPackage]}, nil
	case "remove":
		l, err := d.leafOf(v.Removed)
		return ProposalSpec{Type: ProposalRemove, Remove: l}, err
	case "externalPSK":
		return ProposalSpec{Type: ProposalPreSharedKey, PSKID: d.pskIDs[*v.PSKID]}, nil
	case "resumptionPSK":
		return ProposalSpec{Type: ProposalPreSharedKey, ResumptionEpoch: *v.EpochID}, nil
	case "groupContextExtensions":
		return ProposalSpec{Type: ProposalGroupContextExtensions, Extensions: exts}, nil
	case "reinit":
		sp := ProposalSpec{Type: ProposalReInit, GroupID: g.GroupID(), CipherSuite: d.cs, Extensions: exts}
		if v.ChangeGroupID {
			sp.GroupID = append(g.GroupID(), []byte("-reinit")...)
		}
		if v.ChangeCipherSuite {
			sp.CipherSuite = d.otherSuite()
		}
		return sp, nil
	}
	return ProposalSpec{}, fmt.Errorf("unsupported external proposal %q", v.ProposalType)
}

func (d *driver) reinit(i int, s *scriptStep) error {
	var refs []int
	participants := append([]string{s.Committer, s.Welcomer}, s.Members...)
	if s.Proposer != "" {
		participants = append(participants, s.Proposer)
		g, err := d.groupOf(s.Proposer)
		if err != nil {
			return err
		}
		exts, err := convertExts(s.Extensions)
		if err != nil {
			return err
		}
		gid, cs := g.GroupID(), d.cs
		if s.ChangeGroupID {
			gid = append(gid, []byte("-reinit")...)
		}
		if s.ChangeCipherSuite {
			cs = d.otherSuite()
		}
		msg, err := g.ProposeReInit(gid, cs, exts)
		if err != nil {
			return err
		}
		d.proposals[i] = pendingProposal{msg: msg, sender: s.Proposer}
		refs = []int{i}
	} else if s.ExternalReinit != nil {
		refs = []int{*s.ExternalReinit}
	}
	uniq := map[string]bool{}
	var all []string
	for _, p := range participants {
		if !uniq[p] {
			uniq[p] = true
			all = append(all, p)
		}
	}
	if err := d.deliver(refs, all...); err != nil {
		return err
	}
	var others []string
	for _, p := range all {
		if p != s.Committer {
			others = append(others, p)
		}
	}
	if err := d.commit(s.Committer, CommitOptions{ForcePath: s.ForcePath2}, others, nil, false); err != nil {
		return err
	}
	wg, err := d.groupOf(s.Welcomer)
	if err != nil {
		return err
	}
	info := wg.ReInitInfo()
	if info == nil {
		return errors.New("reinit was not committed")
	}
	newCS := info.CipherSuite
	var kps [][]byte
	var joiners []string
	for _, p := range all {
		if p == s.Welcomer {
			continue
		}
		c := d.client(p)
		c.cs = newCS
		if c.sig.suite != newCS {
			if c.sig, err = GenerateSignatureKey(newCS, c.rand); err != nil {
				return err
			}
		}
		kps = append(kps, d.newKeyPackage(c).KeyPackage())
		joiners = append(joiners, p)
	}
	w := d.client(s.Welcomer)
	if w.sig.suite != newCS {
		if w.sig, err = GenerateSignatureKey(newCS, w.rand); err != nil {
			return err
		}
	}
	external := s.ExternalTree || s.ExternalTree2
	ng, res, err := wg.ReInit(w.sig, w.cred, kps, CommitOptions{ForcePath: s.ForcePath2, RatchetTreeInWelcome: !external}, w.config())
	if err != nil {
		return fmt.Errorf("reinit by %s: %w", s.Welcomer, err)
	}
	w.old = append(w.old, w.group)
	w.group = ng
	var tree []byte
	if external {
		tree = ng.RatchetTree()
	}
	for _, j := range joiners {
		if err := d.join(j, res.Welcome, tree); err != nil {
			return err
		}
	}
	return d.agree(all...)
}

func (d *driver) branch(s *scriptStep) error {
	g, err := d.groupOf(s.Actor)
	if err != nil {
		return err
	}
	exts, err := convertExts(s.Extensions)
	if err != nil {
		return err
	}
	var kps [][]byte
	for _, m := range s.Members {
		if m != s.Actor {
			kps = append(kps, d.newKeyPackage(d.client(m)).KeyPackage())
		}
	}
	a := d.client(s.Actor)
	external := s.ExternalTree || s.ExternalTree2
	ng, res, err := g.Branch(append(g.GroupID(), []byte("-branch")...), exts, a.sig, a.cred, kps,
		CommitOptions{ForcePath: s.ForcePath2, RatchetTreeInWelcome: !external}, a.config())
	if err != nil {
		return err
	}
	a.old = append(a.old, a.group)
	a.group = ng
	var tree []byte
	if external {
		tree = ng.RatchetTree()
	}
	for _, m := range s.Members {
		if m == s.Actor {
			continue
		}
		if err := d.join(m, res.Welcome, tree); err != nil {
			return err
		}
	}
	return d.agree(append([]string{s.Actor}, s.Members...)...)
}

func runScript(t *testing.T, c *struct {
	Name        string            `json:"name"`
	CipherSuite uint16            `json:"cipher_suite"`
	Steps       []json.RawMessage `json:"steps"`
}) error {
	if _, err := suiteOrSkip(c.CipherSuite); err != nil {
		return err
	}
	if c.Name == "random" && c.CipherSuite != 1 && os.Getenv("MLS_DEEP_RANDOM_ALL") == "" {
		// The 1,670-step random script takes minutes per suite; it runs on
		// suite 1 by default and on every suite with MLS_DEEP_RANDOM_ALL=1.
		return errSkipScript
	}
	d := &driver{t: t, cs: CipherSuite(c.CipherSuite), clients: map[string]*driverClient{}, kp: map[int][]byte{},
		kpOwner: map[int]string{}, proposals: map[int]pendingProposal{}, pskIDs: map[int][]byte{},
		ciphertext: map[int][]byte{}, plaintext: map[int][2]string{}, protector: map[int]string{},
		signers: map[string]*SignaturePrivateKey{}}
	for i, raw := range c.Steps {
		var s scriptStep
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		if err := d.step(i, &s); err != nil {
			return fmt.Errorf("%s (suite %d) step %d %s: %w", c.Name, c.CipherSuite, i, s.Action, err)
		}
	}
	// Every client still in a group can send to all others.
	for name, cl := range d.clients {
		if cl.group == nil || !cl.group.Active() {
			continue
		}
		msg, err := cl.group.Protect([]byte("bye from "+name), nil)
		if err != nil {
			return err
		}
		for other, o := range d.clients {
			if other == name || o.group == nil || !bytes.Equal(o.group.GroupID(), cl.group.GroupID()) || !o.group.Active() {
				continue
			}
			if o.group.Epoch() != cl.group.Epoch() {
				continue // left behind by the script (not a listed member)
			}
			if _, err := o.group.ProcessMessage(msg); err != nil {
				return fmt.Errorf("%s: final message %s -> %s: %w", c.Name, name, other, err)
			}
		}
	}
	return nil
}

func init() {
	for _, f := range []string{"application", "branch", "commit", "deep_random", "external_join", "external_proposals", "reinit", "welcome_join"} {
		register("interop-configs/"+f+".json", runScript)
	}
}
