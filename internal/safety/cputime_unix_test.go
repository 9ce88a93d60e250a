//go:build unix

package safety

import (
	"syscall"
	"time"
)

// processCPUTime is the process's user and system CPU time so far. On a
// shared machine it leaves out the time a benchmark waits for a core, which
// wall-clock ns/op does not.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
