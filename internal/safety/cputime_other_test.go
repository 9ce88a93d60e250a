//go:build !unix

package safety

import "time"

// processCPUTime is not measured on this platform: cpu-ns metrics read 0.
func processCPUTime() time.Duration { return 0 }
