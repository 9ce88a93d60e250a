//go:build !unix

package client

import "os"

// lockDataDir does nothing where flock is not available (Windows,
// WebAssembly): there, two processes must not open one DataDir.
func lockDataDir(dir string) (*os.File, error) { return nil, nil }
