//go:build !unix

package sqlite

import (
	"fmt"
	"os"
)

// lockFile creates path+".lock" but cannot lock it on this platform: the
// single-writer rule is then the operator's to keep.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock: %w", err)
	}
	return f, nil
}
