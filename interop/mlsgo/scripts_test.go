package interop

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// vectorsDir is the MLS working group's vectors directory: $MLS_TEST_VECTORS,
// or shared/mls-test-vectors beside the repository (the repository root is
// two levels up from this module).
func vectorsDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("MLS_TEST_VECTORS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "mls-test-vectors")
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		tb.Skipf("MLS test vectors not found (set MLS_TEST_VECTORS): %v", err)
	}
	return dir
}

// readVector reads a vector file and checks its SHA-256 against the list in
// the vectors README, so the tests never run on altered data.
func readVector(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	readme, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	defer readme.Close()
	sum := sha256.Sum256(data)
	sc := bufio.NewScanner(readme)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[1] == name {
			if f[0] != hex.EncodeToString(sum[:]) {
				tb.Fatalf("%s: SHA-256 %x does not match the README's %s", name, sum, f[0])
			}
			return data
		}
	}
	tb.Fatalf("%s: no SHA-256 listed in the vectors README", name)
	return nil
}

// step is one step of an interop-config script. Numeric references are
// indices of earlier steps of the same script.
type step struct {
	Action       string            `json:"action"`
	Actor        string            `json:"actor"`
	Members      []string          `json:"members"`
	Joiners      []string          `json:"joiners"`
	Joiner       string            `json:"joiner"`
	Clients      []string          `json:"clients"`
	KeyPackage   int               `json:"keyPackage"`
	Welcome      int               `json:"welcome"`
	Removed      string            `json:"removed"`
	PSKID        int               `json:"pskID"`
	PSKs         []int             `json:"psks"`
	EpochID      uint64            `json:"epochID"`
	Extensions   []scriptExtension `json:"extensions"`
	ByReference  []int             `json:"byReference"`
	ByValue      []proposalByValue `json:"byValue"`
	ForcePath    bool              `json:"force_path"`
	ExternalTree bool              `json:"external_tree"` // fullCommit's spelling
	ExtTree      bool              `json:"externalTree"`  // externalJoin's and groupInfo's
	RemovePrior  bool              `json:"removePrior"`
	AAD          string            `json:"authenticatedData"`
	Plaintext    string            `json:"plaintext"`
	Ciphertext   int               `json:"ciphertext"`
}

// scriptExtension is the runner's protobuf Extension in JSON form: the data
// is base64, which encoding/json decodes into []byte.
type scriptExtension struct {
	Type uint16 `json:"extension_type"`
	Data []byte `json:"extension_data"`
}

type proposalByValue struct {
	ProposalType string            `json:"proposalType"`
	KeyPackage   int               `json:"keyPackage"`
	Removed      string            `json:"removed"`
	PSKID        int               `json:"pskID"`
	EpochID      uint64            `json:"epochID"`
	Extensions   []scriptExtension `json:"extensions"`
}

type scriptFile struct {
	Scripts map[string][]step `json:"scripts"`
}

// driverActions are the script actions the in-process driver performs over
// the Client interface. The others (reinit, branch, external senders,
// new-member proposals, split commit/handleCommit) need operations the
// interface does not define; scripts using them are reported as skipped.
var driverActions = map[string]bool{
	"createGroup": true, "createKeyPackage": true, "joinGroup": true,
	"externalJoin": true, "installExternalPSK": true, "groupInfo": true,
	"addProposal": true, "updateProposal": true, "removeProposal": true,
	"externalPSKProposal": true, "resumptionPSKProposal": true,
	"groupContextExtensionsProposal": true, "fullCommit": true,
	"protect": true, "unprotect": true,
}

// scriptRun is the state of one script run: the clients playing each actor
// and what every step produced.
type scriptRun struct {
	t      *testing.T
	suite  Suite
	group  []byte
	assign func(actor string) Implementation
	actors map[string]*member
	out    []stepOutput
}

type stepOutput struct {
	keyPackage []byte
	proposal   []byte
	author     string
	psk        PSK
	welcome    []byte
	tree       []byte
	groupInfo  []byte
	ciphertext []byte
	aad, pt    []byte
}

func (r *scriptRun) actor(name string) *member {
	if m, ok := r.actors[name]; ok {
		return m
	}
	m := newMember(r.t, name, r.assign(name), r.suite)
	r.actors[name] = m
	return m
}

func (r *scriptRun) members(names []string) []*member {
	ms := make([]*member, len(names))
	for i, n := range names {
		ms[i] = r.actor(n)
	}
	return ms
}

func exts(in []scriptExtension) []Extension {
	out := make([]Extension, len(in))
	for i, e := range in {
		out[i] = Extension{Type: e.Type, Data: e.Data}
	}
	return out
}

// commitAndDeliver makes committer commit, delivers the byReference
// proposals and the commit to members, joins the joiners, and checks that
// everybody agrees on the new epoch.
func (r *scriptRun) commitAndDeliver(i int, committer *member, byRef []int, opts CommitOptions, members, joiners []*member) {
	t := r.t
	t.Helper()
	deliver := func(m *member) {
		for _, ref := range byRef {
			if r.out[ref].author == m.name {
				continue // a member already holds its own proposals
			}
			_, err := m.c.Process(r.out[ref].proposal)
			must(t, m, fmt.Sprintf("step %d: process proposal of step %d", i, ref), err)
		}
	}
	deliver(committer)
	out, err := committer.c.Commit(opts)
	must(t, committer, fmt.Sprintf("step %d: commit", i), err)
	r.out[i].welcome, r.out[i].tree = out.Welcome, out.RatchetTree
	all := []*member{committer}
	for _, m := range members {
		deliver(m)
		_, err := m.c.Process(out.Commit)
		must(t, m, fmt.Sprintf("step %d: process commit", i), err)
		all = append(all, m)
	}
	for _, j := range joiners {
		if out.Welcome == nil {
			t.Fatalf("step %d: commit by %s has no Welcome for %s", i, committer, j)
		}
		must(t, j, fmt.Sprintf("step %d: join", i), j.c.Join(out.Welcome, out.RatchetTree))
		all = append(all, j)
	}
	agree(t, fmt.Sprintf("step %d", i), all...)
}

func (r *scriptRun) run(steps []step) {
	t := r.t
	r.out = make([]stepOutput, len(steps))
	for i, s := range steps {
		switch s.Action {
		case "createGroup":
			creator := r.actor(s.Actor)
			must(t, creator, "create group", creator.c.CreateGroup(r.group))
			if len(s.Members) == 0 {
				continue
			}
			// createGroup with members: the creator adds them all in one
			// commit and they join from its Welcome.
			var opts CommitOptions
			joiners := r.members(s.Members)
			for _, j := range joiners {
				kp, err := j.c.KeyPackage()
				must(t, j, "key package", err)
				opts.Adds = append(opts.Adds, kp)
			}
			r.commitAndDeliver(i, creator, nil, opts, nil, joiners)

		case "createKeyPackage":
			m := r.actor(s.Actor)
			kp, err := m.c.KeyPackage()
			must(t, m, fmt.Sprintf("step %d: key package", i), err)
			r.out[i].keyPackage = kp

		case "joinGroup":
			m := r.actor(s.Actor)
			must(t, m, fmt.Sprintf("step %d: join", i), m.c.Join(r.out[s.Welcome].welcome, r.out[s.Welcome].tree))

		case "installExternalPSK":
			id, secret := make([]byte, 32), make([]byte, 32)
			rnd := newDetRand(fmt.Sprintf("psk %d", i))
			rnd.Read(id)
			rnd.Read(secret)
			r.out[i].psk = PSK{ID: id, Secret: secret}
			for _, name := range s.Clients {
				m := r.actor(name)
				must(t, m, "install psk", m.c.InstallPSK(id, secret))
			}

		case "groupInfo":
			m := r.actor(s.Actor)
			gi, tree, err := m.c.GroupInfo(s.ExtTree)
			must(t, m, fmt.Sprintf("step %d: group info", i), err)
			r.out[i].groupInfo, r.out[i].tree = gi, tree

		case "externalJoin":
			m := r.actor(s.Actor)
			gi, tree, err := m.c.GroupInfo(s.ExtTree)
			must(t, m, fmt.Sprintf("step %d: group info", i), err)
			opts := ExternalJoinOptions{RatchetTree: tree, RemovePrior: s.RemovePrior}
			for _, p := range s.PSKs {
				opts.PSKs = append(opts.PSKs, r.out[p].psk)
			}
			joiner := r.actor(s.Joiner)
			commit, err := joiner.c.ExternalJoin(gi, opts)
			must(t, joiner, fmt.Sprintf("step %d: external join", i), err)
			all := []*member{joiner}
			for _, o := range append(r.members(s.Members), m) {
				_, err := o.c.Process(commit)
				must(t, o, fmt.Sprintf("step %d: process external commit", i), err)
				all = append(all, o)
			}
			agree(t, fmt.Sprintf("step %d", i), all...)

		case "addProposal", "updateProposal", "removeProposal", "externalPSKProposal",
			"resumptionPSKProposal", "groupContextExtensionsProposal":
			m := r.actor(s.Actor)
			var p []byte
			var err error
			switch s.Action {
			case "addProposal":
				p, err = m.c.ProposeAdd(r.out[s.KeyPackage].keyPackage)
			case "updateProposal":
				p, err = m.c.ProposeUpdate()
			case "removeProposal":
				p, err = m.c.ProposeRemove([]byte(s.Removed))
			case "externalPSKProposal":
				p, err = m.c.ProposeExternalPSK(r.out[s.PSKID].psk.ID)
			case "resumptionPSKProposal":
				p, err = m.c.ProposeResumptionPSK(s.EpochID)
			case "groupContextExtensionsProposal":
				p, err = m.c.ProposeGroupContextExtensions(exts(s.Extensions))
			}
			must(t, m, fmt.Sprintf("step %d: %s", i, s.Action), err)
			r.out[i].proposal, r.out[i].author = p, s.Actor

		case "fullCommit":
			var opts CommitOptions
			opts.ForcePath = s.ForcePath
			opts.ExternalTree = s.ExternalTree
			for _, v := range s.ByValue {
				switch v.ProposalType {
				case "add":
					opts.Adds = append(opts.Adds, r.out[v.KeyPackage].keyPackage)
				case "remove":
					opts.Removes = append(opts.Removes, []byte(v.Removed))
				case "externalPSK":
					opts.ExternalPSKs = append(opts.ExternalPSKs, r.out[v.PSKID].psk.ID)
				case "resumptionPSK":
					opts.ResumptionPSKs = append(opts.ResumptionPSKs, v.EpochID)
				case "groupContextExtensions":
					e := exts(v.Extensions)
					opts.GroupContextExtensions = &e
				default:
					t.Skipf("step %d: by-value proposal %q is not part of the Client interface", i, v.ProposalType)
				}
			}
			r.commitAndDeliver(i, r.actor(s.Actor), s.ByReference, opts, r.members(s.Members), r.members(s.Joiners))

		case "protect":
			m := r.actor(s.Actor)
			ct, err := m.c.Protect([]byte(s.AAD), []byte(s.Plaintext))
			must(t, m, fmt.Sprintf("step %d: protect", i), err)
			r.out[i].ciphertext, r.out[i].aad, r.out[i].pt = ct, []byte(s.AAD), []byte(s.Plaintext)

		case "unprotect":
			m := r.actor(s.Actor)
			src := r.out[s.Ciphertext]
			aad, pt, err := m.c.Unprotect(src.ciphertext)
			must(t, m, fmt.Sprintf("step %d: unprotect step %d", i, s.Ciphertext), err)
			if !bytes.Equal(aad, src.aad) || !bytes.Equal(pt, src.pt) {
				t.Fatalf("step %d: unprotect gave (%q, %q), want (%q, %q)", i, aad, pt, src.aad, src.pt)
			}

		default:
			t.Fatalf("step %d: action %q reached the driver", i, s.Action)
		}
	}
}

// scriptAssignments returns the ways the implementations are given to a
// script's actors: each implementation alone, then, when there are several,
// alternating between them in the order actors first appear (and the same
// alternation shifted by one), so that every kind of step is played by each
// implementation against the other.
func scriptAssignments(steps []step) []struct {
	name   string
	assign func(string) Implementation
} {
	var order []string
	seen := map[string]int{}
	note := func(n string) {
		if _, ok := seen[n]; !ok && n != "" {
			seen[n] = len(order)
			order = append(order, n)
		}
	}
	for _, s := range steps {
		note(s.Actor)
		note(s.Joiner)
		for _, n := range slices.Concat(s.Members, s.Joiners, s.Clients) {
			note(n)
		}
	}
	type asg = struct {
		name   string
		assign func(string) Implementation
	}
	var out []asg
	for _, impl := range implementations {
		out = append(out, asg{"all-" + impl.Name(), func(string) Implementation { return impl }})
	}
	if len(implementations) > 1 {
		for shift := range 2 {
			out = append(out, asg{fmt.Sprintf("alternating%d", shift), func(n string) Implementation {
				return implementations[(seen[n]+shift)%len(implementations)]
			}})
		}
	}
	return out
}

// TestInteropScripts drives the MLS working group's interop scenario scripts
// in-process over the Client interface, on suites 1 and 3, for each
// assignment of implementations to actors (see scriptAssignments). Scripts
// using actions outside the interface are skipped with the action named;
// roles an implementation cannot play skip with its reason. deep_random.json
// (1,670 steps, groups of 100-200) runs only with MLS_INTEROP_DEEP=1.
func TestInteropScripts(t *testing.T) {
	dir := vectorsDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "interop-configs", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no interop-configs in %s: %v", dir, err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		var sf scriptFile
		if err := json.Unmarshal(readVector(t, dir, "interop-configs/"+base), &sf); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		names := make([]string, 0, len(sf.Scripts))
		for n := range sf.Scripts {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, name := range names {
			steps := sf.Scripts[name]
			t.Run(strings.TrimSuffix(base, ".json")+"/"+name, func(t *testing.T) {
				if base == "deep_random.json" && os.Getenv("MLS_INTEROP_DEEP") != "1" {
					t.Skip("deep_random (1,670 steps) runs only with MLS_INTEROP_DEEP=1")
				}
				for _, s := range steps {
					if !driverActions[s.Action] {
						t.Skipf("action %q is not part of the Client interface", s.Action)
					}
				}
				for _, suite := range suites {
					for _, a := range scriptAssignments(steps) {
						t.Run(fmt.Sprintf("suite%d/%s", suite, a.name), func(t *testing.T) {
							r := &scriptRun{
								t: t, suite: suite, assign: a.assign,
								group:  []byte("interop/" + base + "/" + name),
								actors: map[string]*member{},
							}
							r.run(steps)
						})
					}
				}
			})
		}
	}
}
