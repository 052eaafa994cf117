package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// proc is one program the run started: the simulator, the producer API or
// a worker. Its stdout and stderr go to a file of its own, written by the
// program itself, so a SIGKILL loses none of what it had logged.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}

	mu sync.Mutex
	// killedAt is when the run sent SIGKILL; zero if it did not.
	killedAt time.Time
	// stopped is set when the run sent SIGTERM.
	stopped bool
}

// startProc starts bin with env added to the run's environment.
func startProc(dir, name, bin string, env []string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, started: time.Now(),
		done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	p.mu.Lock()
	p.killedAt = time.Now()
	p.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// killTime is when the run killed the process, or zero.
func (p *proc) killTime() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killedAt
}

// endedByRun reports whether the run killed or stopped the process.
func (p *proc) endedByRun() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped || !p.killedAt.IsZero()
}

// stop sends SIGTERM and waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exitCode is the process's exit code, or -1 when it was killed by a
// signal or is still running.
func (p *proc) exitCode() int {
	if !p.exited() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// tail returns the last bytes of the process's log, for an error message.
func (p *proc) tail(n int) string {
	data, _ := os.ReadFile(p.logPath)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// waitReady polls url until it answers 200, the process exits or timeout
// passes.
func waitReady(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited (code %d):\n%s", p.name, p.exitCode(), p.tail(2000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %s", p.name, url, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
