package safety_test

import (
	"testing"

	"github.com/wardchat/ward/internal/safety"
	"github.com/wardchat/ward/internal/safety/safetytest"
)

// TestSignalStoreContract runs the contract suite against the test-only
// in-memory store, which keeps the suite itself honest.
func TestSignalStoreContract(t *testing.T) {
	safetytest.Run(t, func(t *testing.T) safety.SignalStore { return safety.NewTestStore() })
}
