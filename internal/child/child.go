// Package child runs the programs of a benchmark or chaos run (the
// simulator, the producer API, workers) as child processes. Each writes its
// stdout and stderr to a log file of its own, itself, so that a SIGKILL
// loses nothing it had logged.
package child

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

// Proc is a running (or ended) child process.
type Proc struct {
	// Name names the process in errors and reports.
	Name string
	// LogPath is the file its stdout and stderr go to.
	LogPath string
	// Started is when it was started.
	Started time.Time

	cmd  *exec.Cmd
	done chan struct{}

	mu sync.Mutex
	// killedAt is when Kill was called; zero if it was not.
	killedAt time.Time
	// stopped is set by Stop.
	stopped bool
}

// Start runs bin with args, its environment this process's plus env, and
// its output in logPath (whose directory is made if missing).
func Start(logPath, name, bin string, env []string, args ...string) (*Proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The child holds its own descriptor of the file once started.
	defer func() { _ = logFile.Close() }()
	// Not bound to a context: Stop ends it with SIGTERM, Kill with SIGKILL.
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, Started: time.Now(), cmd: cmd,
		done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitedEarly is nil while the process runs; once it has ended, an error
// naming it with the end of its log.
func (p *Proc) ExitedEarly() error {
	if !p.Exited() {
		return nil
	}
	return fmt.Errorf("%s exited (code %d):\n%s", p.Name, p.ExitCode(), p.Tail(4000))
}

// ExitCode is the process's exit code, or -1 when it was killed by a signal
// or still runs.
func (p *Proc) ExitCode() int {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() {
	p.mu.Lock()
	p.killedAt = time.Now()
	p.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// KillTime is when Kill was called, or zero.
func (p *Proc) KillTime() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killedAt
}

// EndedByRun reports whether Kill or Stop was called.
func (p *Proc) EndedByRun() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped || !p.killedAt.IsZero()
}

// Stop sends SIGTERM and waits up to grace, then kills.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
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

// Tail returns the last n bytes of the process's log.
func (p *Proc) Tail(n int) string {
	data, _ := os.ReadFile(p.LogPath)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// WaitReady polls url until it answers 200, the process exits or timeout
// passes.
func WaitReady(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := p.ExitedEarly(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %s", p.Name, url, timeout)
		}
		if err := Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// Sleep waits d, or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
