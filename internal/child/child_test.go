package child

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

func TestStopKillAndExit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sleeper, err := Start(filepath.Join(dir, "logs", "sleeper.log"), "sleeper", "/bin/sh", nil,
		"-c", "echo started; exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	if sleeper.Exited() || sleeper.ExitedEarly() != nil || sleeper.EndedByRun() {
		t.Fatal("a running process reads as ended")
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(sleeper.Tail(100), "started")
	}, "the sleeper logged nothing")
	sleeper.Stop(5 * time.Second)
	if !sleeper.Exited() || !sleeper.EndedByRun() || !strings.Contains(sleeper.Tail(100), "started") {
		t.Errorf("after Stop: exited %v, ended by run %v, log %q", sleeper.Exited(),
			sleeper.EndedByRun(), sleeper.Tail(100))
	}

	killed, err := Start(filepath.Join(dir, "killed.log"), "killed", "/bin/sh", nil, "-c",
		"exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	killed.Kill()
	if killed.KillTime().IsZero() || killed.ExitCode() != -1 {
		t.Errorf("after Kill: kill time %v, exit code %d; want a time and -1", killed.KillTime(),
			killed.ExitCode())
	}

	failing, err := Start(filepath.Join(dir, "failing.log"), "failing", "/bin/sh", nil, "-c",
		"echo cannot start; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	// WaitReady gives up on a process that has ended, with its log.
	err = WaitReady(context.Background(), failing, "http://127.0.0.1:1/", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "code 3") ||
		!strings.Contains(err.Error(), "cannot start") || failing.EndedByRun() {
		t.Errorf("WaitReady on a process that exited: %v", err)
	}
}
