//go:build !unix

package keytrans

import "time"

// processCPUTime is not available here; the cpu-ns/op metric reads zero.
func processCPUTime() time.Duration { return 0 }
