package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/localsvc"
)

// FreeAddr returns a loopback address free at the time of the call.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := localsvc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Build compiles the given packages of the module (such as "./cmd/worker")
// into a temporary directory of the test and returns the directory.
func Build(t testing.TB, pkgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %v: %v\n%s", pkgs, err, out)
	}
	return dir
}
