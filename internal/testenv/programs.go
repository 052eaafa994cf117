package testenv

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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

// Get returns the body at url, or "" unless it answers 200 within 2 s.
func Get(url string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(data)
}
