package safety

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Policy file format, version 1 (docs/SAFETY.md, "Policy files").
//
//	ward-safety-policy 1
//
//	# A comment: a line whose first non-blank character is '#'.
//	rule adult-contacts-unconnected-teen
//	  at first_contact, group_add
//	  when !actor.is_teen && target.is_teen
//	    && !relation.is_contact
//	  action deny_contact_with_teens
//	  reason "Teen accounts can only be contacted by people they have added."
//	  priority 100
//
// A rule runs from its "rule" line to the next "rule" line or the end of the
// file. Inside it each line is one directive; a "when" expression continues
// on the following lines that are indented deeper than the "when" line and
// do not start with a directive keyword.

// Header is the first directive of every policy file.
const Header = "ward-safety-policy 1"

// Parser limits. They bound the work an invalid or hostile file can cause.
const (
	maxPolicySize  = 1 << 20 // bytes
	maxRules       = 1000
	maxExprLen     = 4096 // bytes of one when expression
	maxTextLen     = 500  // bytes of a reason or notice
	maxNameLen     = 64
	maxPriority    = 1000
	maxForDuration = 365 * 24 * time.Hour
	maxErrors      = 50
)

// PolicyError is one problem in a policy file. Compile returns every problem
// it finds (up to 50), joined with [errors.Join]; use [errors.As] to get the
// first one.
type PolicyError struct {
	File   string
	Line   int // 1-based
	Column int // 1-based, 0 when the problem is the whole line
	Reason string
}

// Error returns "safety: file:line[:column]: reason".
func (e *PolicyError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("safety: %s:%d:%d: %s", e.File, e.Line, e.Column, e.Reason)
	}
	return fmt.Sprintf("safety: %s:%d: %s", e.File, e.Line, e.Reason)
}

// Rule is one policy rule as written in the file.
type Rule struct {
	Name     string       `json:"name"`
	Line     int          `json:"line"` // line of the "rule" directive
	Points   []Point      `json:"at"`
	When     string       `json:"when"`
	Actions  []RuleAction `json:"actions"`
	Reason   string       `json:"reason"`
	Notice   string       `json:"notice,omitempty"`
	Priority int          `json:"priority"`
	// OnError is "match" (the default: an evaluation error counts as the
	// condition holding, so the rule fails closed) or "skip".
	OnError string `json:"on_error"`

	whenLine, whenCol int // where the expression starts in the file
}

// RuleAction is one "action" directive.
type RuleAction struct {
	Action Action `json:"action"`
	// For is the duration of rate_limit (retry after) and of a standing
	// restrict_new_conversations; zero otherwise.
	For time.Duration `json:"for,omitempty"`
	// Category and Severity qualify flag_for_moderators.
	Category string `json:"category,omitempty"`
	Severity string `json:"severity,omitempty"`

	line int
}

type parser struct {
	file string
	errs []error
}

func (p *parser) errorf(line, col int, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, &PolicyError{File: p.file, Line: line, Column: col, Reason: fmt.Sprintf(format, args...)})
	}
}

// parsePolicy parses src into rules without compiling expressions. Every
// syntax and consistency problem is reported; the rules are returned only
// when there is none.
func parsePolicy(file string, src []byte) ([]*Rule, error) {
	p := &parser{file: file}
	if len(src) > maxPolicySize {
		p.errorf(1, 0, "policy file is larger than %d bytes", maxPolicySize)
		return nil, errors.Join(p.errs...)
	}
	if !utf8.Valid(src) {
		p.errorf(1+strings.Count(string(src[:firstInvalidUTF8(src)]), "\n"), 0, "policy file is not valid UTF-8")
		return nil, errors.Join(p.errs...)
	}
	lines := strings.Split(string(src), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}

	var (
		rules   []*Rule
		cur     *Rule
		seen    map[string]int // directive -> line, for the current rule
		names   = map[string]int{}
		header  bool
		inWhen  = -1 // indentation of the current rule's "when" line, -1 when not continuing
		whenBuf strings.Builder
	)
	endWhen := func() {
		if inWhen >= 0 && cur != nil {
			cur.When = whenBuf.String()
			if len(cur.When) > maxExprLen {
				p.errorf(cur.whenLine, 0, "when expression is longer than %d bytes", maxExprLen)
			}
		}
		inWhen = -1
		whenBuf.Reset()
	}
	for i, raw := range lines {
		n := i + 1
		trimmed := strings.TrimLeft(raw, " \t")
		indent := len(raw) - len(trimmed)
		if inWhen >= 0 {
			if trimmed != "" && trimmed[0] != '#' && indent > inWhen && !isDirective(trimmed) {
				whenBuf.WriteByte('\n')
				whenBuf.WriteString(raw)
				continue
			}
			endWhen()
		}
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		keyword, rest := trimmed, ""
		if i := strings.IndexAny(trimmed, " \t"); i >= 0 {
			keyword, rest = trimmed[:i], strings.TrimLeft(trimmed[i:], " \t")
		}
		if !header {
			if f := strings.Fields(trimmed); len(f) == 2 && f[0] == "ward-safety-policy" {
				if f[1] != "1" {
					p.errorf(n, 0, "unsupported policy version %q (this server reads version 1)", f[1])
					return nil, errors.Join(p.errs...)
				}
				header = true
				continue
			}
			p.errorf(n, 0, "the first line must be %q", Header)
			return nil, errors.Join(p.errs...)
		}
		if keyword == "rule" {
			if len(rules) == maxRules {
				p.errorf(n, 0, "more than %d rules", maxRules)
				break
			}
			cur = &Rule{Name: rest, Line: n, OnError: "match"}
			seen = map[string]int{}
			rules = append(rules, cur)
			switch {
			case !validName(rest):
				p.errorf(n, 0, "invalid rule name %q: use 1 to %d of a-z, 0-9, '-' and '_', starting with a letter", rest, maxNameLen)
			case names[rest] != 0:
				p.errorf(n, 0, "duplicate rule name %q (first defined on line %d)", rest, names[rest])
			default:
				names[rest] = n
			}
			continue
		}
		if cur == nil {
			p.errorf(n, 0, "%q outside a rule: start a rule with \"rule <name>\"", keyword)
			continue
		}
		if keyword != "action" {
			if first, dup := seen[keyword]; dup {
				p.errorf(n, 0, "duplicate %q in rule %q (first on line %d)", keyword, cur.Name, first)
				continue
			}
			seen[keyword] = n
		}
		if rest == "" {
			p.errorf(n, 0, "%q needs an argument", keyword)
			continue
		}
		switch keyword {
		case "at":
			cur.Points = p.parsePoints(n, rest)
		case "when":
			cur.whenLine = n
			cur.whenCol = utf8.RuneCountInString(raw[:len(raw)-len(rest)]) // 0-based, in code points as CEL counts
			inWhen = indent
			whenBuf.WriteString(rest)
		case "action":
			if a, ok := p.parseAction(n, rest); ok {
				for _, b := range cur.Actions {
					if b.Action == a.Action {
						p.errorf(n, 0, "duplicate action %s in rule %q (first on line %d)", a.Action, cur.Name, b.line)
					}
				}
				cur.Actions = append(cur.Actions, a)
			}
		case "reason":
			cur.Reason = p.parseText(n, rest)
		case "notice":
			cur.Notice = p.parseText(n, rest)
		case "priority":
			v, err := strconv.Atoi(rest)
			if err != nil || v < -maxPriority || v > maxPriority {
				p.errorf(n, 0, "priority must be an integer from %d to %d, got %q", -maxPriority, maxPriority, rest)
			}
			cur.Priority = v
		case "on_error":
			if rest != "match" && rest != "skip" {
				p.errorf(n, 0, "on_error must be \"match\" or \"skip\", got %q", rest)
			}
			cur.OnError = rest
		default:
			delete(seen, keyword)
			p.errorf(n, 0, "unknown directive %q (expected rule, at, when, action, reason, notice, priority or on_error)", keyword)
		}
	}
	endWhen()
	if !header {
		p.errorf(max(len(lines), 1), 0, "empty policy: the first line must be %q", Header)
	}
	for _, r := range rules {
		p.checkRule(r)
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return rules, nil
}

// checkRule reports missing directives and combinations that mean nothing.
func (p *parser) checkRule(r *Rule) {
	if r.Points == nil {
		p.errorf(r.Line, 0, "rule %q has no \"at\" line", r.Name)
	}
	if r.whenLine == 0 {
		p.errorf(r.Line, 0, "rule %q has no \"when\" line", r.Name)
	}
	if len(r.Actions) == 0 {
		p.errorf(r.Line, 0, "rule %q has no \"action\" line", r.Name)
	}
	if r.Reason == "" {
		p.errorf(r.Line, 0, "rule %q has no \"reason\" line", r.Name)
	}
	hasNotice := false
	for _, a := range r.Actions {
		if a.Action == Allow && len(r.Actions) > 1 {
			p.errorf(a.line, 0, "allow cannot be combined with other actions")
		}
		if a.Action == SafetyNotice {
			hasNotice = true
		}
		for _, pt := range r.Points {
			if actionPoints[a.Action]&pointBit(pt) == 0 {
				p.errorf(a.line, 0, "action %s has no meaning at %s", a.Action, pt)
			} else if a.Action == RestrictNewConversations && a.For == 0 && gatingPoints&pointBit(pt) == 0 {
				p.errorf(a.line, 0, "restrict_new_conversations at %s needs \"for <duration>\" (there is no attempt to refuse there)", pt)
			}
		}
		teen := a.Action == DenyContactWithTeens || (a.Action == FlagForModerators && a.Category == "child_safety")
		if teen && r.OnError == "skip" {
			p.errorf(a.line, 0, "rule %q protects teens (%s) and must fail closed: remove \"on_error skip\"", r.Name, a.Action)
		}
	}
	switch {
	case hasNotice && r.Notice == "":
		p.errorf(r.Line, 0, "rule %q has action safety_notice but no \"notice\" line", r.Name)
	case !hasNotice && r.Notice != "":
		p.errorf(r.Line, 0, "rule %q has a \"notice\" line but no safety_notice action", r.Name)
	}
}

func (p *parser) parsePoints(line int, s string) []Point {
	var (
		pts  []Point
		seen uint16
	)
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		pt, ok := parsePoint(f)
		if !ok {
			p.errorf(line, 0, "unknown decision point %q (expected one of %s)", f, strings.Join(pointNames[:], ", "))
			continue
		}
		if seen&pointBit(pt) != 0 {
			p.errorf(line, 0, "decision point %s listed twice", pt)
			continue
		}
		seen |= pointBit(pt)
		pts = append(pts, pt)
	}
	if pts == nil {
		pts = []Point{} // reported above; non-nil so checkRule does not also say "no at line"
	}
	return pts
}

// parseAction parses "<action> [arguments]":
//
//	allow | route_to_requests | deny_contact_with_teens | suspend_pending_review | safety_notice
//	rate_limit for <duration>
//	restrict_new_conversations [for <duration>]
//	flag_for_moderators <category> [<severity>]
func (p *parser) parseAction(line int, s string) (RuleAction, bool) {
	f := strings.Fields(s)
	a, ok := parseAction(f[0])
	if !ok {
		p.errorf(line, 0, "unknown action %q (expected one of %s)", f[0], strings.Join(actionNames[:], ", "))
		return RuleAction{}, false
	}
	ra := RuleAction{Action: a, line: line}
	args := f[1:]
	switch a {
	case RateLimit, RestrictNewConversations:
		if len(args) == 0 && a == RestrictNewConversations {
			return ra, true
		}
		if len(args) != 2 || args[0] != "for" {
			p.errorf(line, 0, "%s takes \"for <duration>\" (like \"for 1h\" or \"for 7d\")", a)
			return ra, false
		}
		d, err := parseDuration(args[1])
		if err != nil {
			p.errorf(line, 0, "%s: %v", a, err)
			return ra, false
		}
		ra.For = d
	case FlagForModerators:
		if len(args) < 1 || len(args) > 2 {
			p.errorf(line, 0, "flag_for_moderators takes a category (%s) and optionally a severity (%s)",
				strings.Join(flagCategories, ", "), strings.Join(severities, ", "))
			return ra, false
		}
		if indexOf(flagCategories, args[0]) < 0 {
			p.errorf(line, 0, "unknown flag category %q (expected one of %s)", args[0], strings.Join(flagCategories, ", "))
			return ra, false
		}
		ra.Category, ra.Severity = args[0], "medium"
		if len(args) == 2 {
			if indexOf(severities, args[1]) < 0 {
				p.errorf(line, 0, "unknown severity %q (expected one of %s)", args[1], strings.Join(severities, ", "))
				return ra, false
			}
			ra.Severity = args[1]
		}
	default:
		if len(args) > 0 {
			p.errorf(line, 0, "action %s takes no arguments, got %q", a, strings.Join(args, " "))
			return ra, false
		}
	}
	return ra, true
}

// parseDuration accepts Go durations ("90m", "1h30m") and whole days ("7d"),
// from one minute to 365 days.
func parseDuration(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 365 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
	}
	if d < time.Minute || d > maxForDuration {
		return 0, fmt.Errorf("duration %q is outside 1m to 365d", s)
	}
	return d, nil
}

func (p *parser) parseText(line int, s string) string {
	if !strings.HasPrefix(s, `"`) {
		p.errorf(line, 0, "text must be a double-quoted string, got %q", s)
		return ""
	}
	t, err := strconv.Unquote(s)
	switch {
	case err != nil:
		p.errorf(line, 0, "invalid quoted text %s", s)
	case strings.TrimSpace(t) == "":
		p.errorf(line, 0, "text is empty")
	case len(t) > maxTextLen:
		p.errorf(line, 0, "text is longer than %d bytes", maxTextLen)
	case !utf8.ValidString(t):
		p.errorf(line, 0, "text is not valid UTF-8")
	default:
		return t
	}
	return ""
}

// isDirective reports whether a line starts with a directive keyword. Such a
// line is never part of a when expression (no CEL continuation can start
// with these words), whatever its indentation.
func isDirective(line string) bool {
	kw := line
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		kw = line[:i]
	}
	switch kw {
	case "rule", "at", "when", "action", "reason", "notice", "priority", "on_error":
		return true
	}
	return false
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
