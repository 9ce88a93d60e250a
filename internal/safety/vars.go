package safety

import (
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// The CEL environment (docs/SAFETY.md, "What rules can read"). Every
// variable is a scalar with a dotted name, declared individually so that the
// checker rejects a misspelt name at load time and the explanation of a
// decision can list exactly the variables a rule read.

type varID uint16

// Fixed variables, then one per signal counter from varSignals on.
const (
	varDecision varID = iota

	varActorAgeBand
	varActorIsTeen
	varActorIsAdult
	varActorAgeHours
	varActorStatus
	varActorContacts
	varActorDevices

	varTargetAgeBand
	varTargetIsTeen
	varTargetIsAdult
	varTargetAgeHours
	varTargetStatus
	varTargetContacts
	varTargetDevices

	varRelIsContact
	varRelHasReplied
	varRelBlocked
	varRelSharedGroups

	varReportVerified
	varReportCategory

	varSignals
	numVars = int(varSignals) + NumKinds*NumWindows
)

type scope uint8

const (
	scopeAll    scope = iota // every point
	scopeTarget              // points with a target
	scopeReport              // the report point
)

type varDef struct {
	name  string
	typ   *cel.Type
	scope scope
}

var vars = func() [numVars]varDef {
	var v [numVars]varDef
	v[varDecision] = varDef{"decision", cel.StringType, scopeAll}
	for _, who := range []struct {
		prefix string
		base   varID
		scope  scope
	}{{"actor.", varActorAgeBand, scopeAll}, {"target.", varTargetAgeBand, scopeTarget}} {
		v[who.base+0] = varDef{who.prefix + "age_band", cel.StringType, who.scope}
		v[who.base+1] = varDef{who.prefix + "is_teen", cel.BoolType, who.scope}
		v[who.base+2] = varDef{who.prefix + "is_adult", cel.BoolType, who.scope}
		v[who.base+3] = varDef{who.prefix + "account_age_hours", cel.IntType, who.scope}
		v[who.base+4] = varDef{who.prefix + "status", cel.StringType, who.scope}
		v[who.base+5] = varDef{who.prefix + "contacts_count", cel.IntType, who.scope}
		v[who.base+6] = varDef{who.prefix + "devices_count", cel.IntType, who.scope}
	}
	v[varRelIsContact] = varDef{"relation.is_contact", cel.BoolType, scopeTarget}
	v[varRelHasReplied] = varDef{"relation.has_replied", cel.BoolType, scopeTarget}
	v[varRelBlocked] = varDef{"relation.blocked", cel.BoolType, scopeTarget}
	v[varRelSharedGroups] = varDef{"relation.shared_groups", cel.IntType, scopeTarget}
	v[varReportVerified] = varDef{"report.verified", cel.BoolType, scopeReport}
	v[varReportCategory] = varDef{"report.category", cel.StringType, scopeReport}
	for k := range NumKinds {
		for w := range NumWindows {
			v[signalVar(Kind(k), Window(w))] = varDef{"signals." + SignalName(Kind(k), Window(w)), cel.IntType, scopeAll}
		}
	}
	return v
}()

func signalVar(k Kind, w Window) varID { return varSignals + varID(int(k)*NumWindows+int(w)) }

var varIndex = func() map[string]varID {
	m := make(map[string]varID, numVars)
	for i, d := range vars {
		m[d.name] = varID(i)
	}
	return m
}()

// available reports whether variable id exists at point p.
func (id varID) available(p Point) bool {
	switch vars[id].scope {
	case scopeTarget:
		return p.HasTarget()
	case scopeReport:
		return p == Report
	}
	return true
}

// maxStringFact is the longest string fact the engine passes to rules;
// longer values read as "invalid". It bounds the static cost estimate.
const maxStringFact = 64

var (
	envOnce sync.Once
	envs    [NumPoints]*cel.Env
	envErr  error
)

// pointEnv returns the CEL environment of point p: the standard library
// and the variables available at p. Environments are immutable and shared.
func pointEnv(p Point) (*cel.Env, error) {
	envOnce.Do(func() {
		for pt := range NumPoints {
			var opts []cel.EnvOption
			for i, d := range vars {
				if varID(i).available(Point(pt)) {
					opts = append(opts, cel.Variable(d.name, d.typ))
				}
			}
			opts = append(opts,
				cel.ParserRecursionLimit(100),
				cel.ParserExpressionSizeLimit(maxExprLen),
				cel.ExpressionNodeLimit(1000),
			)
			if envs[pt], envErr = cel.NewEnv(opts...); envErr != nil {
				return
			}
		}
	})
	return envs[p], envErr
}

// frame is the activation of one decision: it resolves variable names to
// values computed from the input on demand, so a rule pays only for what
// it reads. Frames are pooled: CEL takes the activation as an interface,
// which would otherwise put a frame (and the input it points to) on the
// heap for every decision.
type frame struct {
	point     Point
	in        Input
	sig       Signals // the input's signals plus the event under decision
	actorAge  int64
	targetAge int64
}

var framePool = sync.Pool{New: func() any { return new(frame) }}

func (f *frame) reset(p Point, in *Input) {
	f.point, f.in, f.sig = p, *in, in.Signals
	f.actorAge, f.targetAge = ageHours(in.Actor.CreatedAt, in.Now), 0
	if in.Target != nil {
		f.targetAge = ageHours(in.Target.CreatedAt, in.Now)
	}
	for _, k := range currentEvent(p, in) {
		f.sig.Add(k, 1)
	}
}

// release drops the frame's references into the caller's data and returns
// it to the pool.
func (f *frame) release() {
	f.in.Target, f.in.Report = nil, nil
	framePool.Put(f)
}

// ResolveName implements interpreter.Activation.
func (f *frame) ResolveName(name string) (any, bool) {
	id, ok := varIndex[name]
	if !ok || !id.available(f.point) {
		return nil, false
	}
	return f.value(id), true
}

// Parent implements interpreter.Activation.
func (f *frame) Parent() interpreter.Activation { return nil }

var (
	pointVals  [NumPoints]ref.Val
	commonStrs = map[string]ref.Val{}
)

func init() {
	for p := range NumPoints {
		pointVals[p] = types.String(Point(p).String())
	}
	for _, s := range []string{"adult", "teen", "active", "restricted", "suspended", "banned", "invalid", ""} {
		commonStrs[s] = types.String(s)
	}
	for _, s := range flagCategories {
		commonStrs[s] = types.String(s)
	}
}

// str returns s as a CEL string without allocating for common values;
// strings longer than maxStringFact read as "invalid".
func str(s string) ref.Val {
	if len(s) > maxStringFact {
		s = "invalid"
	}
	if v, ok := commonStrs[s]; ok {
		return v
	}
	return types.String(s)
}

func (f *frame) value(id varID) ref.Val {
	if id >= varSignals {
		i := int(id - varSignals)
		return types.Int(f.sig[i/NumWindows][i%NumWindows])
	}
	a, age := &f.in.Actor, f.actorAge
	if id >= varTargetAgeBand && id <= varTargetDevices {
		if f.in.Target == nil {
			a = &Account{}
		} else {
			a = f.in.Target
		}
		age = f.targetAge
		id -= varTargetAgeBand - varActorAgeBand
	}
	switch id {
	case varDecision:
		if !f.point.Valid() {
			return str(f.point.String()) // only in the record of an invalid-input decision
		}
		return pointVals[f.point]
	case varActorAgeBand:
		return str(string(a.AgeBand))
	case varActorIsTeen:
		return types.Bool(a.AgeBand.isTeen())
	case varActorIsAdult:
		return types.Bool(a.AgeBand.isAdult())
	case varActorAgeHours:
		return types.Int(age)
	case varActorStatus:
		return str(a.Status)
	case varActorContacts:
		return types.Int(a.Contacts)
	case varActorDevices:
		return types.Int(a.Devices)
	case varRelIsContact:
		return types.Bool(f.in.Relation.IsContact)
	case varRelHasReplied:
		return types.Bool(f.in.Relation.HasReplied)
	case varRelBlocked:
		return types.Bool(f.in.Relation.Blocked)
	case varRelSharedGroups:
		return types.Int(f.in.Relation.SharedGroups)
	case varReportVerified:
		return types.Bool(f.in.Report != nil && f.in.Report.Verified)
	case varReportCategory:
		c := "other"
		if f.in.Report != nil && indexOf(reportCategories, f.in.Report.Category) >= 0 {
			c = f.in.Report.Category
		}
		return str(c)
	}
	return types.NewErr("safety: no variable %d", id)
}

// Var is one variable as a rule saw it.
type Var struct {
	Name  string `json:"name"`
	Value any    `json:"value"` // bool, int64 or string
}

// snapshot returns every variable available at the frame's point, in
// declaration order.
func (f *frame) snapshot() []Var {
	out := make([]Var, 0, numVars)
	for i := range numVars {
		id := varID(i)
		if id.available(f.point) {
			out = append(out, Var{vars[id].name, f.value(id).Value()})
		}
	}
	return out
}
