//go:build unix

package keytrans

import (
	"syscall"
	"time"
)

// processCPUTime returns the user and system CPU time of the process so
// far. Benchmarks report it per operation beside ns/op: on a shared machine
// it does not count the time the benchmark waits for a core.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
