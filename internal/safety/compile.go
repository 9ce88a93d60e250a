package safety

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/cost"
)

// Options tune [Compile].
type Options struct {
	// CostLimit bounds the CEL cost of evaluating one rule, in CEL cost units
	// (roughly one per variable read, operator or comparison). A rule whose
	// worst case, estimated at load time, exceeds it is rejected; the same
	// limit is enforced at run time. Default 1000; the default policy's
	// costliest rule needs at most 20.
	CostLimit uint64
}

// DefaultCostLimit is the CostLimit used when Options.CostLimit is zero.
const DefaultCostLimit = 1000

// Engine is a compiled policy. It is immutable and safe for concurrent use.
type Engine struct {
	file      string
	digest    string
	rules     []*compiledRule // priority order
	byPoint   [NumPoints][]*compiledRule
	costLimit uint64
	warnings  []string
}

type compiledRule struct {
	Rule
	prg  [NumPoints]cel.Program
	refs [NumPoints][]varID // variables the expression reads, in source order
}

// Compile parses and compiles a policy file. file names the policy in error
// messages and decisions. Every expression is type-checked against the
// variables of each point it is used at, must be a bool, and must have a
// worst-case cost within the limit. An invalid policy is rejected with every
// problem found, each as a [*PolicyError] "file:line: reason".
func Compile(file string, src []byte, opts Options) (*Engine, error) {
	if opts.CostLimit == 0 {
		opts.CostLimit = DefaultCostLimit
	}
	rules, err := parsePolicy(file, src)
	if err != nil {
		return nil, err
	}
	p := &parser{file: file}
	e := &Engine{file: file, costLimit: opts.CostLimit}
	sum := sha256.Sum256(src)
	e.digest = "sha256:" + hex.EncodeToString(sum[:])
	for _, r := range rules {
		cr := &compiledRule{Rule: *r}
		if p.compileRule(cr, opts.CostLimit) {
			e.rules = append(e.rules, cr)
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	// Stable: equal priorities keep file order.
	slices.SortStableFunc(e.rules, func(a, b *compiledRule) int { return b.Priority - a.Priority })
	for _, r := range e.rules {
		for _, pt := range r.Points {
			e.byPoint[pt] = append(e.byPoint[pt], r)
		}
	}
	e.warnings = e.selfCheck()
	return e, nil
}

// compileRule compiles r's expression at each of its points.
func (p *parser) compileRule(r *compiledRule, limit uint64) bool {
	for i, pt := range r.Points {
		env, err := pointEnv(pt)
		if err != nil {
			p.errorf(r.whenLine, 0, "building the CEL environment: %v", err)
			return false
		}
		src := celSource(r.When)
		ast, iss := env.CompileSource(src)
		if iss.Err() != nil {
			// Report each distinct problem once; name the point only when
			// the expression is valid at some other point of the rule.
			for _, ce := range iss.Errors() {
				line, col := r.whenLine+ce.Location.Line()-1, ce.Location.Column()+1
				if ce.Location.Line() == 1 {
					col += r.whenCol
				}
				msg := ce.Message + scopeHint(ce.Message, pt)
				if i > 0 {
					msg += " (at " + pt.String() + ")"
				}
				if ce.Location.Line() <= 0 {
					line, col = r.whenLine, 0
				}
				p.errorf(line, col, "when: %s", msg)
			}
			return false
		}
		if !ast.OutputType().IsExactType(cel.BoolType) {
			p.errorf(r.whenLine, 0, "when: the expression must be a bool, it is %s", ast.OutputType())
			return false
		}
		est, err := env.EstimateCost(ast, estimator{})
		if err != nil {
			p.errorf(r.whenLine, 0, "when: estimating cost: %v", err)
			return false
		}
		if est.Max > limit {
			p.errorf(r.whenLine, 0, "when: the expression may cost up to %d, more than the limit of %d", est.Max, limit)
			return false
		}
		prg, err := env.Program(ast, cel.CostLimit(limit), cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			p.errorf(r.whenLine, 0, "when: %v", err)
			return false
		}
		r.prg[pt] = prg
		r.refs[pt] = referencedVars(ast)
	}
	return true
}

// scopeHint explains an undeclared reference to a variable that exists at
// other points.
func scopeHint(msg string, pt Point) string {
	for _, v := range []struct{ prefix, hint string }{
		{"undeclared reference to 'target", " (target and relation exist only at points with a target, not at " + pt.String() + ")"},
		{"undeclared reference to 'relation", " (target and relation exist only at points with a target, not at " + pt.String() + ")"},
		{"undeclared reference to 'report", " (report exists only at the report point)"},
	} {
		if strings.HasPrefix(msg, v.prefix) {
			return v.hint
		}
	}
	return ""
}

// celSource wraps an expression for CEL; line 1 of the source is the "when"
// line.
func celSource(expr string) cel.Source {
	return common.NewStringSource(expr, "when")
}

// referencedVars lists the variables an expression reads, in order of first
// appearance in the source.
func referencedVars(ast *cel.Ast) []varID {
	native := ast.NativeRep()
	type ref struct {
		id  varID
		pos int32
	}
	var refs []ref
	seen := map[varID]bool{}
	for exprID, info := range native.ReferenceMap() {
		id, ok := varIndex[info.Name]
		if !ok || seen[id] {
			if ok {
				// keep the earliest position
				for i := range refs {
					if refs[i].id == id {
						if r, ok := native.SourceInfo().GetOffsetRange(exprID); ok && r.Start < refs[i].pos {
							refs[i].pos = r.Start
						}
					}
				}
			}
			continue
		}
		seen[id] = true
		pos := int32(1 << 30)
		if r, ok := native.SourceInfo().GetOffsetRange(exprID); ok {
			pos = r.Start
		}
		refs = append(refs, ref{id, pos})
	}
	slices.SortFunc(refs, func(a, b ref) int {
		if a.pos != b.pos {
			return int(a.pos - b.pos)
		}
		return int(a.id) - int(b.id)
	})
	out := make([]varID, len(refs))
	for i, r := range refs {
		out[i] = r.id
	}
	return out
}

// estimator bounds the size of string variables for the static cost
// estimate; every other size and cost comes from CEL's default model.
type estimator struct{}

func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if path := n.Path(); len(path) > 0 && n.Type().IsExactType(cel.StringType) {
		if _, ok := varIndex[strings.Join(path, ".")]; ok {
			return &cost.SizeEstimate{Min: 0, Max: maxStringFact}
		}
	}
	return nil
}

func (estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}

// File returns the policy's file name as given to [Compile].
func (e *Engine) File() string { return e.file }

// Digest returns "sha256:" and the hex SHA-256 of the policy file: it names
// the exact policy version in stored decisions.
func (e *Engine) Digest() string { return e.digest }

// Rules returns the policy's rules in evaluation order (priority, highest
// first, then file order). The returned values are copies.
func (e *Engine) Rules() []Rule {
	out := make([]Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.Rule
		out[i].Points = slices.Clone(r.Points)
		out[i].Actions = slices.Clone(r.Actions)
	}
	return out
}

// Warnings returns the problems the engine found by probing the compiled
// policy with canonical inputs: protections the design promises that this
// policy does not give (for example, an adult may message a teen who is not
// a contact). A policy with warnings is valid; the server should log them
// at start.
func (e *Engine) Warnings() []string { return slices.Clone(e.warnings) }

// selfCheck runs probe decisions (see Warnings).
func (e *Engine) selfCheck() []string {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	old := now.Add(-365 * 24 * time.Hour)
	adult := Account{ID: AccountID{1}, AgeBand: Adult, Status: "active", CreatedAt: old, Contacts: 20, Devices: 1}
	teen := Account{ID: AccountID{2}, AgeBand: Teen, Status: "active", CreatedAt: old, Contacts: 20, Devices: 1}
	other := adult
	other.ID = AccountID{3}
	probes := []struct {
		p    Point
		in   Input
		want func(Action) bool
		msg  string
	}{
		{FirstContact, Input{Now: now, Actor: adult, Target: &teen}, Action.Refuses,
			"an adult can start a conversation with a teen account that is not a contact"},
		{GroupAdd, Input{Now: now, Actor: adult, Target: &teen}, Action.Refuses,
			"an adult can add a teen account that is not a contact to a group"},
		{Lookup, Input{Now: now, Actor: adult, Target: &teen}, Action.Refuses,
			"an adult can find a teen account that is not a contact by its handle"},
		{FirstContact, Input{Now: now, Actor: adult, Target: &other}, func(a Action) bool { return a != Allow },
			"messages from non-contacts go to the inbox, not to message requests"},
		{FirstContact, Input{Now: now, Actor: adult, Target: &other, Relation: Relation{IsContact: true, HasReplied: true}},
			func(a Action) bool { return a == Allow },
			"an established adult account cannot freely message its own contacts"},
	}
	var out []string
	for _, pr := range probes {
		d, err := e.Decide(pr.p, pr.in)
		if err != nil || !pr.want(d.Outcome) {
			out = append(out, fmt.Sprintf("policy %s: %s (probe at %s decided %s)", e.file, pr.msg, pr.p, d.Outcome))
		}
	}
	return out
}
