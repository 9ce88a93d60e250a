package safety

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// rule0 is a valid rule used as a base in parser tests.
const rule0 = `rule r0
  at first_contact
  when !relation.is_contact
  action route_to_requests
  reason "r0"
`

func TestPolicyErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string // Header is prepended unless raw
		raw  bool
		line int    // line of the first error
		col  int    // column of the first error, 0 to skip the check
		want string // substring of the first error
	}{
		{name: "empty file", raw: true, src: "", line: 1, want: "empty policy"},
		{name: "only comments", raw: true, src: "# nothing\n\n", line: 3, want: "empty policy"},
		{name: "missing header", raw: true, src: rule0, line: 1, want: `the first line must be "ward-safety-policy 1"`},
		{name: "future version", raw: true, src: "# c\nward-safety-policy 2\n" + rule0, line: 2, want: `unsupported policy version "2"`},
		{name: "invalid utf-8", raw: true, src: Header + "\n# \xff\n", line: 2, want: "not valid UTF-8"},
		{name: "directive outside rule", src: "at first_contact\n", line: 2, want: `"at" outside a rule`},
		{name: "unknown directive", src: rule0 + "  actoin allow\n", line: 7, want: `unknown directive "actoin"`},
		{name: "unknown action", src: "rule a\n  at sweep\n  when true\n  action deny\n  reason \"x\"\n", line: 5, want: `unknown action "deny"`},
		{name: "action arguments", src: "rule a\n  at sweep\n  when true\n  action allow now\n  reason \"x\"\n", line: 5, want: "takes no arguments"},
		{name: "duplicate action", src: "rule a\n  at sweep\n  when true\n  action flag_for_moderators spam\n  action flag_for_moderators other\n  reason \"x\"\n", line: 6, want: "duplicate action flag_for_moderators"},
		{name: "unknown point", src: "rule a\n  at first_message\n  when true\n  action allow\n  reason \"x\"\n", line: 3, want: `unknown decision point "first_message"`},
		{name: "point twice", src: "rule a\n  at block, block\n  when true\n  action allow\n  reason \"x\"\n", line: 3, want: "decision point block listed twice"},
		{name: "at without points", src: "rule a\n  at\n  when true\n  action allow\n  reason \"x\"\n", line: 3, want: `"at" needs an argument`},
		{name: "duplicate rule", src: rule0 + rule0, line: 7, want: `duplicate rule name "r0" (first defined on line 2)`},
		{name: "bad rule name", src: "rule Bad\n  at sweep\n  when true\n  action allow\n  reason \"x\"\n", line: 2, want: `invalid rule name "Bad"`},
		{name: "missing name", src: "rule\n  at sweep\n  when true\n  action allow\n  reason \"x\"\n", line: 2, want: `invalid rule name ""`},
		{name: "missing when", src: "rule a\n  at sweep\n  action allow\n  reason \"x\"\n", line: 2, want: `rule "a" has no "when" line`},
		{name: "missing at", src: "rule a\n  when true\n  action allow\n  reason \"x\"\n", line: 2, want: `rule "a" has no "at" line`},
		{name: "missing action", src: "rule a\n  at sweep\n  when true\n  reason \"x\"\n", line: 2, want: `rule "a" has no "action" line`},
		{name: "missing reason", src: "rule a\n  at sweep\n  when true\n  action allow\n", line: 2, want: `rule "a" has no "reason" line`},
		{name: "duplicate when", src: "rule a\n  at sweep\n  when true\n  when false\n  action allow\n  reason \"x\"\n", line: 5, want: `duplicate "when" in rule "a" (first on line 4)`},
		{name: "unquoted reason", src: "rule a\n  at sweep\n  when true\n  action allow\n  reason spam\n", line: 6, want: "double-quoted"},
		{name: "empty reason", src: "rule a\n  at sweep\n  when true\n  action allow\n  reason \"  \"\n", line: 6, want: "text is empty"},
		{name: "bad quoting", src: "rule a\n  at sweep\n  when true\n  action allow\n  reason \"a\n", line: 6, want: "invalid quoted text"},
		{name: "long reason", src: "rule a\n  at sweep\n  when true\n  action allow\n  reason \"" + strings.Repeat("x", 501) + "\"\n", line: 6, want: "longer than 500 bytes"},
		{name: "priority range", src: "rule a\n  at sweep\n  when true\n  action allow\n  reason \"x\"\n  priority 1001\n", line: 7, want: "priority must be an integer"},
		{name: "priority word", src: "rule a\n  at sweep\n  when true\n  action allow\n  reason \"x\"\n  priority high\n", line: 7, want: "priority must be an integer"},
		{name: "on_error value", src: "rule a\n  at sweep\n  when true\n  action allow\n  reason \"x\"\n  on_error ignore\n", line: 7, want: `on_error must be "match" or "skip"`},
		{name: "teen rule cannot skip", src: "rule a\n  at lookup\n  when target.is_teen\n  action deny_contact_with_teens\n  reason \"x\"\n  on_error skip\n", line: 5, want: "must fail closed"},
		{name: "child safety flag cannot skip", src: "rule a\n  at sweep\n  when true\n  action flag_for_moderators child_safety\n  reason \"x\"\n  on_error skip\n", line: 5, want: "must fail closed"},
		{name: "action at wrong point", src: "rule a\n  at sweep\n  when true\n  action route_to_requests\n  reason \"x\"\n", line: 5, want: "action route_to_requests has no meaning at sweep"},
		{name: "deny at block", src: "rule a\n  at block\n  when true\n  action deny_contact_with_teens\n  reason \"x\"\n", line: 5, want: "has no meaning at block"},
		{name: "notice at sweep", src: "rule a\n  at sweep\n  when true\n  action safety_notice\n  notice \"n\"\n  reason \"x\"\n", line: 5, want: "safety_notice has no meaning at sweep"},
		{name: "restrict without for", src: "rule a\n  at block\n  when true\n  action restrict_new_conversations\n  reason \"x\"\n", line: 5, want: `needs "for <duration>"`},
		{name: "rate_limit without for", src: "rule a\n  at lookup\n  when true\n  action rate_limit\n  reason \"x\"\n", line: 5, want: `rate_limit takes "for <duration>"`},
		{name: "bad duration", src: "rule a\n  at lookup\n  when true\n  action rate_limit for 1y\n  reason \"x\"\n", line: 5, want: `invalid duration "1y"`},
		{name: "short duration", src: "rule a\n  at lookup\n  when true\n  action rate_limit for 30s\n  reason \"x\"\n", line: 5, want: "outside 1m to 365d"},
		{name: "long duration", src: "rule a\n  at lookup\n  when true\n  action rate_limit for 366d\n  reason \"x\"\n", line: 5, want: `invalid duration "366d"`},
		{name: "flag without category", src: "rule a\n  at sweep\n  when true\n  action flag_for_moderators\n  reason \"x\"\n", line: 5, want: "takes a category"},
		{name: "flag category", src: "rule a\n  at sweep\n  when true\n  action flag_for_moderators scam\n  reason \"x\"\n", line: 5, want: `unknown flag category "scam"`},
		{name: "flag severity", src: "rule a\n  at sweep\n  when true\n  action flag_for_moderators spam urgent\n  reason \"x\"\n", line: 5, want: `unknown severity "urgent"`},
		{name: "notice missing", src: "rule a\n  at first_contact\n  when true\n  action safety_notice\n  reason \"x\"\n", line: 2, want: "no \"notice\" line"},
		{name: "notice without action", src: "rule a\n  at first_contact\n  when true\n  action allow\n  notice \"n\"\n  reason \"x\"\n", line: 2, want: "no safety_notice action"},
		{name: "allow combined", src: "rule a\n  at first_contact\n  when true\n  action allow\n  action route_to_requests\n  reason \"x\"\n", line: 5, want: "allow cannot be combined"},

		// CEL problems carry the line and column of the expression.
		{name: "cel syntax", src: "rule a\n  at sweep\n  when actor.is_teen &&\n  action allow\n  reason \"x\"\n", line: 4, want: "when: Syntax error"},
		{name: "undeclared signal", src: "rule a\n  at sweep\n  when signals.outreach_attempt_1h > 3\n  action allow\n  reason \"x\"\n", line: 4, col: 15, // CEL points at the selecting dot
			want: "undeclared reference to 'signals.outreach_attempt_1h' (did you mean 'signals.outreach_attempts_1h'?)"},
		{name: "error on continuation line", src: "rule a\n  at sweep\n  when actor.is_teen\n      && actr.is_adult\n  action allow\n  reason \"x\"\n", line: 5, col: 14, want: "undeclared reference to 'actr.is_adult'"},
		{name: "not bool", src: "rule a\n  at sweep\n  when signals.outreach_attempts_1h + 1\n  action allow\n  reason \"x\"\n", line: 4, want: "must be a bool, it is int"},
		{name: "type error", src: "rule a\n  at sweep\n  when actor.status > 3\n  action allow\n  reason \"x\"\n", line: 4, want: "no matching overload"},
		{name: "target at sweep", src: "rule a\n  at sweep\n  when target.is_teen\n  action allow\n  reason \"x\"\n", line: 4, want: "undeclared reference to 'target' (target and relation exist only at points with a target, not at sweep)"},
		{name: "target at one of the points", src: "rule a\n  at first_contact, sweep\n  when target.is_teen\n  action allow\n  reason \"x\"\n", line: 4, want: "(at sweep)"},
		{name: "report outside report", src: "rule a\n  at block\n  when report.verified\n  action allow\n  reason \"x\"\n", line: 4, want: "undeclared reference to 'report' (report exists only at the report point)"},
		{name: "long expression", src: "rule a\n  at sweep\n  when true" + strings.Repeat(" || true", 600) + "\n  action allow\n  reason \"x\"\n", line: 4, want: "longer than 4096 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if !tc.raw {
				src = Header + "\n" + src
			}
			_, err := Compile("test.policy", []byte(src), Options{})
			if err == nil {
				t.Fatal("Compile accepted an invalid policy")
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PolicyError", err)
			}
			if pe.Line != tc.line || pe.File != "test.policy" || !strings.Contains(pe.Reason, tc.want) {
				t.Errorf("first error = %v\nwant line %d containing %q", pe, tc.line, tc.want)
			}
			if tc.col != 0 && pe.Column != tc.col {
				t.Errorf("column = %d, want %d (%v)", pe.Column, tc.col, pe)
			}
			prefix := fmt.Sprintf("safety: test.policy:%d:", tc.line)
			if !strings.HasPrefix(pe.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", pe.Error(), prefix)
			}
		})
	}
}

func TestPolicyReportsEveryError(t *testing.T) {
	src := Header + "\n" +
		"rule a\n  at sweep\n  when true\n  action nope\n  reason \"x\"\n" +
		"rule b\n  at nowhere\n  when true\n  action allow\n  reason \"x\"\n"
	_, err := Compile("p", []byte(src), Options{})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"safety: p:5: unknown action", "safety: p:8: unknown decision point"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestPolicyCostLimit(t *testing.T) {
	src := Header + "\nrule a\n  at sweep\n  when signals.outreach_attempts_1h + signals.outreach_attempts_24h + signals.outreach_attempts_7d > 3\n  action allow\n  reason \"x\"\n"
	if _, err := Compile("p", []byte(src), Options{CostLimit: 5}); err == nil || !strings.Contains(err.Error(), "more than the limit of 5") {
		t.Errorf("cost limit 5: err = %v", err)
	}
	if _, err := Compile("p", []byte(src), Options{CostLimit: 100}); err != nil {
		t.Errorf("cost limit 100: %v", err)
	}
	// String variables are bounded in the estimate (so string comparisons
	// do not count as unbounded), and comprehensions over literal lists
	// are bounded by their size.
	src = Header + "\nrule a\n  at sweep\n  when actor.status in [\"restricted\", \"suspended\"] && [1, 2, 3].all(x, x < signals.devices_added_7d)\n  action allow\n  reason \"x\"\n"
	if _, err := Compile("p", []byte(src), Options{}); err != nil {
		t.Errorf("bounded expression rejected: %v", err)
	}
}

func TestPolicySyntax(t *testing.T) {
	src := strings.Join([]string{
		"# leading comment",
		"",
		Header,
		"rule low",
		"\tat first_contact group_add,lookup",
		"\twhen !relation.is_contact",
		"\t\t&& signals.outreach_attempts_1h > 3",
		"",
		"\t\t# a comment ends the expression",
		"\taction rate_limit for 90m",
		"\treason \"slow \\\"down\\\"\"",
		"rule high",
		"at first_contact",
		"when true",
		"    action restrict_new_conversations for 7d", // deeper than when, but a directive
		"action flag_for_moderators spam",
		"reason \"x\"",
		"priority 5",
		"on_error skip",
		"rule mid-same-priority",
		"  at sweep",
		"  when false",
		"  action allow",
		"  reason \"y\"",
		"  priority -0",
	}, "\r\n")
	e := mustCompile(t, src)
	rules := e.Rules()
	names := []string{rules[0].Name, rules[1].Name, rules[2].Name}
	if want := []string{"high", "low", "mid-same-priority"}; fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("evaluation order %v, want %v", names, want)
	}
	low := rules[1]
	if low.When != "!relation.is_contact\n\t\t&& signals.outreach_attempts_1h > 3" {
		t.Errorf("when = %q", low.When)
	}
	if fmt.Sprint(low.Points) != "[first_contact group_add lookup]" || low.Line != 4 {
		t.Errorf("points %v line %d", low.Points, low.Line)
	}
	if low.Reason != `slow "down"` || low.Actions[0].For != 90*time.Minute || low.OnError != "match" {
		t.Errorf("rule low = %+v", low)
	}
	high := rules[0]
	if high.Actions[0].For != 7*24*time.Hour || high.Actions[1].Severity != "medium" || high.OnError != "skip" || high.Priority != 5 {
		t.Errorf("rule high = %+v", high)
	}
	// Rules returns copies.
	rules[0].Actions[0].For = 0
	if e.Rules()[0].Actions[0].For == 0 {
		t.Error("Rules exposes the engine's own slices")
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{"1m": time.Minute, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute, "3d": 72 * time.Hour, "365d": 365 * 24 * time.Hour} {
		if got, err := parseDuration(s); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "59s", "0d", "-1h", "1.5d", "d", "366d", "9000h", "1w"} {
		if _, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) accepted", s)
		}
	}
}

// TestDocExample compiles the example policy in docs/SAFETY.md, so the
// documentation cannot drift from the format.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/SAFETY.md")
	if err != nil {
		t.Skipf("docs not available: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "```\n"+Header+"\n")
	if !ok {
		t.Fatal("docs/SAFETY.md has no example policy block")
	}
	example, _, _ := strings.Cut(rest, "```")
	e := mustCompile(t, Header+"\n"+example)
	if n := len(e.Rules()); n != 3 {
		t.Errorf("example has %d rules, want 3", n)
	}
}
