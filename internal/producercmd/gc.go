package producercmd

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// CgroupMemoryMax lists where a container's memory limit is read: cgroup v2,
// then cgroup v1.
var CgroupMemoryMax = []string{
	"/sys/fs/cgroup/memory.max",
	"/sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// noLimit is where cgroup v1 numbers stop meaning a limit: it writes "no
// limit" as a number near the largest int64.
const noLimit = 1 << 60

// gcSettings are what TuneGC set, for the start-up log: 0 for each left to
// Go's defaults or the environment.
var gcSettings struct {
	gogc  int
	limit int64
}

// TuneGC sets the producer's garbage collector, unless its environment does.
// The API allocates for every request and keeps little, so by default the
// collector runs often for a small heap: at GOGC=400 it runs a quarter as
// often (docs/benchmarks.md measures what that saves). What it costs is
// memory, so inside a container with a memory limit (read from the first of
// memoryMax that holds one) the heap is also held to nine tenths of that
// limit, past which the collector runs as often as it must. A blank GOGC or
// GOMEMLIMIT counts as unset. It returns the GOGC and memory limit set, 0
// for those left alone.
func TuneGC(lookup func(string) (string, bool), memoryMax ...string) (gogc int, limit int64) {
	if v, _ := lookup("GOGC"); strings.TrimSpace(v) != "" {
		return 0, 0
	}
	gogc = 400
	debug.SetGCPercent(gogc)
	gcSettings.gogc = gogc
	if v, _ := lookup("GOMEMLIMIT"); strings.TrimSpace(v) != "" {
		return gogc, 0
	}
	for _, path := range memoryMax {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// cgroup v2 writes "max" when there is no limit.
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || n <= 0 || n >= noLimit {
			return gogc, 0
		}
		limit = n / 10 * 9
		debug.SetMemoryLimit(limit)
		gcSettings.limit = limit
		return gogc, limit
	}
	return gogc, 0
}

// gcSummary describes the collector's settings for the start-up log.
func gcSummary() []any {
	out := []any{"gogc", "environment"}
	if gcSettings.gogc != 0 {
		out[1] = gcSettings.gogc
	}
	if gcSettings.limit != 0 {
		out = append(out, "memory_limit_bytes", gcSettings.limit)
	}
	return out
}
