package localsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// RedisOptions tunes a throwaway redis-server. The zero value is a Redis
// that keeps nothing on disk.
type RedisOptions struct {
	// AppendFsync turns the append-only file on with this appendfsync policy
	// ("always", "everysec" or "no"), so that Restart after Kill loads what
	// had reached the disk. Empty leaves the append-only file off. RDB
	// snapshots are off either way.
	AppendFsync string
}

// Redis is a throwaway redis-server on a loopback port, with its files and
// log in one directory.
//
// A Redis is not safe for concurrent use.
type Redis struct {
	dir  string
	addr string
	path string
	opts RedisOptions
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts redis-server with its files in dir, created when
// missing, on a free loopback port, and waits until it answers. The error
// wraps ErrNotInstalled when redis-server cannot be found.
//
// The caller stops the server with Close and then removes dir.
func StartRedis(ctx context.Context, dir string, opts RedisOptions) (*Redis, error) {
	path := program("redis-server")
	if path == "" {
		return nil, fmt.Errorf("redis-server: %w (apt-get install redis-server)",
			ErrNotInstalled)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create Redis's directory: %w", err)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	r := &Redis{dir: dir, addr: addr, path: path, opts: opts}
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Addr is the server's TCP address, 127.0.0.1 and its port.
func (r *Redis) Addr() string { return r.addr }

// URL connects to the server's database 0.
func (r *Redis) URL() string { return "redis://" + r.addr + "/0" }

// Kill ends redis-server with SIGKILL, as an OOM kill or a lost machine
// would, and waits until it is gone. Only what the append-only file holds
// survives it.
func (r *Redis) Kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// Restart starts redis-server again after Kill, on the same port and
// directory, and waits until it answers, which it does once it has loaded
// the append-only file.
func (r *Redis) Restart(ctx context.Context) error {
	if !r.exited() {
		return errors.New("restart redis-server: it is still running")
	}
	return r.start(ctx)
}

// Close stops redis-server for good, if it runs: SIGTERM, then SIGKILL when
// it has not ended within 10 s. It leaves the directory to the caller.
func (r *Redis) Close() {
	if r.exited() {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	select {
	case <-r.done:
	case <-grace.C:
		r.Kill()
	}
}

// start runs redis-server and waits until it answers or exits.
func (r *Redis) start(ctx context.Context) error {
	host, port, _ := net.SplitHostPort(r.addr)
	appendOnly := []string{"--appendonly", "no"}
	if r.opts.AppendFsync != "" {
		appendOnly = []string{"--appendonly", "yes", "--appendfsync", r.opts.AppendFsync}
	}
	args := append([]string{"--bind", host, "--port", port, "--dir", r.dir, "--save", "",
		"--logfile", filepath.Join(r.dir, "redis.log")}, appendOnly...)
	// Not bound to ctx: the server outlives its start, until Kill or Close.
	cmd := exec.CommandContext(context.Background(), r.path, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done

	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	err := WaitTCP(waitCtx, r.addr, 20*time.Second)
	if err == nil {
		return nil
	}
	if r.exited() {
		return fmt.Errorf("redis-server exited while starting:\n%s",
			tail(filepath.Join(r.dir, "redis.log")))
	}
	r.Kill()
	return fmt.Errorf("start redis-server: %w", err)
}

// exited reports whether the last redis-server started has ended.
func (r *Redis) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}
