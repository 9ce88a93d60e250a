package safety

import (
	_ "embed"
	"sync"
)

//go:embed default.policy
var defaultPolicy []byte

// DefaultPolicyFile is the name the default policy goes by in errors and
// decisions.
const DefaultPolicyFile = "default.policy"

// DefaultPolicy returns the source of the policy that ships with Ward
// (docs/SAFETY.md, "The default policy"). Operators start their own policy
// file from it.
func DefaultPolicy() []byte { return append([]byte(nil), defaultPolicy...) }

var (
	defaultOnce   sync.Once
	defaultEngine *Engine
)

// Default returns the default policy compiled with default options. The
// embedded policy is valid (a test proves it); Default panics otherwise.
func Default() *Engine {
	defaultOnce.Do(func() {
		e, err := Compile(DefaultPolicyFile, defaultPolicy, Options{})
		if err != nil {
			panic(err)
		}
		defaultEngine = e
	})
	return defaultEngine
}
