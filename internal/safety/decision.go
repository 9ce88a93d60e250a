package safety

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MarshalText encodes the id in hex.
func (id AccountID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// formatDuration writes whole days as "7d" and anything else as Go does
// ("1h0m0s" becomes "1h").
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

// MarshalJSON encodes the action with "for" as a duration string ("24h").
func (a RuleAction) MarshalJSON() ([]byte, error) {
	type plain struct {
		Action   Action `json:"action"`
		For      string `json:"for,omitempty"`
		Category string `json:"category,omitempty"`
		Severity string `json:"severity,omitempty"`
	}
	p := plain{Action: a.Action, Category: a.Category, Severity: a.Severity}
	if a.For > 0 {
		p.For = formatDuration(a.For)
	}
	return json.Marshal(p)
}

// String renders the action as written in a policy file.
func (a RuleAction) String() string {
	s := a.Action.String()
	if a.For > 0 {
		s += " for " + formatDuration(a.For)
	}
	if a.Category != "" {
		s += " " + a.Category + " " + a.Severity
	}
	return s
}

// MarshalJSON encodes the decision for storage: every field, durations as
// strings, the whole variable snapshot as "vars" (name to value, as the
// rules saw them; signal counters that are absent are zero) and the
// explanation. This record is what a moderator or
// an appeal sees; it contains no content, only the metadata the rules read.
func (d Decision) MarshalJSON() ([]byte, error) {
	type alias Decision // no methods: no recursion
	out := struct {
		alias
		RetryAfter  string  `json:"retry_after,omitempty"`
		RestrictFor string  `json:"restrict_for,omitempty"`
		Vars        varsObj `json:"vars"`
		Explanation string  `json:"explanation"`
	}{alias: alias(d), Vars: d.Vars(), Explanation: d.Explain()}
	if d.RetryAfter > 0 {
		out.RetryAfter = formatDuration(d.RetryAfter)
	}
	if d.RestrictFor > 0 {
		out.RestrictFor = formatDuration(d.RestrictFor)
	}
	return json.Marshal(out)
}

// varsObj encodes variables as one JSON object, name to value, in
// declaration order, leaving out signal counters that are zero.
type varsObj []Var

func (vs varsObj) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	for _, v := range vs {
		if n, ok := v.Value.(int64); ok && n == 0 && strings.HasPrefix(v.Name, "signals.") {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, v.Name) // names are ASCII identifiers
		b = append(b, ':')
		switch x := v.Value.(type) {
		case bool:
			b = strconv.AppendBool(b, x)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		default:
			j, err := json.Marshal(x)
			if err != nil {
				return nil, err
			}
			b = append(b, j...)
		}
	}
	return append(b, '}'), nil
}

// Explain renders the decision for a moderator, an appeal or a log: the
// outcome and the rule that decided it, then every matching rule with its
// condition and the values it saw, the side effects and any evaluation
// error.
func (d *Decision) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s: %s", d.Point, d.Now.UTC().Format(time.RFC3339), d.Outcome)
	switch {
	case d.Outcome.Refuses():
		b.WriteString(" (refused)")
	case d.Outcome == RouteToRequests:
		b.WriteString(" (delivered to message requests)")
	default:
		b.WriteString(" (allowed)")
	}
	b.WriteString("\n")
	if d.Rule != "" {
		fmt.Fprintf(&b, "  decided by rule %q (%s:%d): %s\n", d.Rule, d.Policy, d.ruleLine(d.Rule), d.Reason)
	} else {
		b.WriteString("  no rule matched\n")
	}
	if d.Outcome == RateLimit && d.RetryAfter > 0 {
		fmt.Fprintf(&b, "  retry after %s\n", formatDuration(d.RetryAfter))
	}
	if d.Suspend {
		b.WriteString("  account suspended pending review\n")
	}
	if d.RestrictFor > 0 {
		fmt.Fprintf(&b, "  new conversations restricted for %s\n", formatDuration(d.RestrictFor))
	}
	if len(d.Matches) > 0 {
		b.WriteString("matching rules:\n")
	}
	for _, m := range d.Matches {
		acts := make([]string, len(m.Actions))
		for i, a := range m.Actions {
			acts[i] = a.String()
		}
		fmt.Fprintf(&b, "  %s (line %d) -> %s\n", m.Rule, m.Line, strings.Join(acts, ", "))
		fmt.Fprintf(&b, "    when %s\n", strings.Join(strings.Fields(m.When), " "))
		vals := make([]string, len(m.Values))
		for i, v := range m.Values {
			vals[i] = fmt.Sprintf("%s = %s", v.Name, formatValue(v.Value))
		}
		if len(vals) > 0 {
			fmt.Fprintf(&b, "    saw  %s\n", strings.Join(vals, ", "))
		}
		if m.Err != "" {
			fmt.Fprintf(&b, "    evaluation failed (%s): counted as matched, the rule fails closed\n", m.Err)
		}
	}
	for _, e := range d.Errors {
		if !e.Matched {
			fmt.Fprintf(&b, "skipped rule %s (line %d): evaluation failed (%s), on_error skip\n", e.Rule, e.Line, e.Err)
		}
	}
	for _, f := range d.Flags {
		fmt.Fprintf(&b, "flag for moderators: %s, %s (rule %s)\n", f.Category, f.Severity, f.Rule)
	}
	for _, n := range d.Notices {
		fmt.Fprintf(&b, "safety notice to the other party: %q (rule %s)\n", n.Text, n.Rule)
	}
	fmt.Fprintf(&b, "policy %s %s\n", d.Policy, d.Digest)
	return b.String()
}

func (d *Decision) ruleLine(name string) int {
	for _, m := range d.Matches {
		if m.Rule == name {
			return m.Line
		}
	}
	return 0
}

func formatValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
