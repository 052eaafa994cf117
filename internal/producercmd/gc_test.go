package producercmd

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// TestTuneGC changes the process's GC settings, so it runs alone and puts
// them back.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	dir := t.TempDir()
	limited := filepath.Join(dir, "limited")
	unlimited := filepath.Join(dir, "unlimited")
	if err := os.WriteFile(limited, []byte("134217728\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unlimited, []byte("max\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v1Unlimited := filepath.Join(dir, "v1-unlimited")
	if err := os.WriteFile(v1Unlimited, []byte("9223372036854771712\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// env sets each of vars to "1"; a name ending in "=" is set but blank.
	env := func(vars ...string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			for _, v := range vars {
				if v == name {
					return "1", true
				}
				if v == name+"=" {
					return "", true
				}
			}
			return "", false
		}
	}
	tests := []struct {
		name      string
		lookup    func(string) (string, bool)
		memoryMax []string
		wantGOGC  int
		wantLimit int64
	}{
		{"a container limit holds the heap to 90 % of it", env(), []string{limited}, 400,
			120795948},
		{"the first file that exists is read", env(),
			[]string{filepath.Join(dir, "absent"), limited}, 400, 120795948},
		{"no limit: GOGC only", env(), []string{unlimited, limited}, 400, 0},
		{"cgroup v1's no limit: GOGC only", env(), []string{v1Unlimited}, 400, 0},
		{"no cgroup file: GOGC only", env(), []string{filepath.Join(dir, "absent")}, 400, 0},
		{"GOMEMLIMIT set: GOGC only", env("GOMEMLIMIT"), []string{limited}, 400, 0},
		{"GOGC set: nothing", env("GOGC"), []string{limited}, 0, 0},
		{"a blank GOGC is unset", env("GOGC="), []string{limited}, 400, 120795948},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			gogc, limit := TuneGC(tt.lookup, tt.memoryMax...)
			if gogc != tt.wantGOGC || limit != tt.wantLimit {
				t.Fatalf("TuneGC = %d, %d; want %d, %d", gogc, limit, tt.wantGOGC, tt.wantLimit)
			}
			wantPercent := 100
			if tt.wantGOGC != 0 {
				wantPercent = tt.wantGOGC
			}
			if got := debug.SetGCPercent(100); got != wantPercent {
				t.Errorf("GC percent %d, want %d", got, wantPercent)
			}
			wantLimit := int64(math.MaxInt64)
			if tt.wantLimit != 0 {
				wantLimit = tt.wantLimit
			}
			if got := debug.SetMemoryLimit(-1); got != wantLimit {
				t.Errorf("memory limit %d, want %d", got, wantLimit)
			}
		})
	}
}
