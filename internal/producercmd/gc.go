package producercmd

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// CgroupMemoryMax is where cgroup v2 tells a container its memory limit.
const CgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// TuneGC sets the producer's garbage collector, unless its environment does.
// The API allocates for every request and keeps little, so by default the
// collector runs often for a small heap: at GOGC=400 it runs a quarter as
// often (docs/benchmarks.md measures what that saves). What it costs is
// memory, so inside a container with a memory limit (memoryMax, cgroup v2)
// the heap is also held to nine tenths of that limit, past which the
// collector runs as often as it must. It returns the GOGC and memory limit
// set, 0 for those left alone.
func TuneGC(lookup func(string) (string, bool), memoryMax string) (gogc int, limit int64) {
	if _, set := lookup("GOGC"); set {
		return 0, 0
	}
	gogc = 400
	debug.SetGCPercent(gogc)
	if _, set := lookup("GOMEMLIMIT"); set {
		return gogc, 0
	}
	data, err := os.ReadFile(memoryMax)
	if err != nil {
		return gogc, 0
	}
	// "max" when there is no limit.
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 {
		return gogc, 0
	}
	limit = n / 10 * 9
	debug.SetMemoryLimit(limit)
	return gogc, limit
}
