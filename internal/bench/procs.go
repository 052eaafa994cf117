package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/child"
)

// clockTicks is the kernel's USER_HZ, the unit of CPU times in /proc; it is
// 100 on every Linux the project runs on.
const clockTicks = 100

// proc is a program the bench started, with its log in a file.
type proc = child.Proc

// startProc runs bin with args and env added to the bench's environment,
// logging to dir/name.log.
func startProc(dir, name, bin string, env []string, args ...string) (*proc, error) {
	return child.Start(filepath.Join(dir, name+".log"), name, bin, env, args...)
}

// usage is a process's CPU time and resident memory at one moment.
type usage struct {
	at  time.Time
	cpu time.Duration
	rss int64
}

// sample reads a process's CPU time (user and system) and RSS from /proc.
func sample(p *proc) (usage, error) {
	u := usage{at: time.Now()}
	pid := p.Pid()
	var err error
	if _, u.cpu, err = statOf(pid); err != nil {
		return u, fmt.Errorf("read CPU time of %s: %w", p.Name, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, fmt.Errorf("read RSS of %s: %w", p.Name, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			u.rss = kb << 10
		}
	}
	return u, nil
}

// treeCPU is the CPU time of process pid and of its children, such as a
// PostgreSQL postmaster and its backends.
func treeCPU(pid int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		parent, cpu, err := statOf(n)
		if err == nil && (n == pid || parent == pid) {
			total += cpu
		}
	}
	return total, nil
}

// statOf reads a process's parent and CPU time (user and system) from
// /proc.
func statOf(pid int) (parent int, cpu time.Duration, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 13 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	parent, _ = strconv.Atoi(fields[1])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return parent, time.Duration(utime+stime) * time.Second / clockTicks, nil
}
