// Package localsvc starts throwaway Redis and PostgreSQL servers on loopback
// for the demo, the integration tests, the chaos run and the benchmarks. Each
// server is a process of its own with its files in a directory the caller
// gives it, and is gone once closed.
//
// None of it is fit for production: the servers listen on 127.0.0.1 only,
// PostgreSQL trusts every local connection and runs with fsync=off, and
// Redis keeps nothing on disk unless asked to.
package localsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// ErrNotInstalled is wrapped by StartPostgres and StartRedis when a server's
// programs cannot be found, so that a caller may fall back to something else
// or tell the user what to install.
var ErrNotInstalled = errors.New("not installed")

// FreeAddr returns a loopback address whose port was free at the time of the
// call. Another process may take the port before the caller listens on it;
// on a development or CI machine that is rare enough to accept.
func FreeAddr() (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// WaitTCP polls addr until it accepts a TCP connection. It returns the last
// dial error once timeout has passed, and ctx's error when ctx ends first.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	dialer := net.Dialer{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// program returns the path of an installed program, or "" when there is
// none. Besides PATH it looks in Debian's /usr/lib/postgresql/VERSION/bin,
// where PostgreSQL's server programs live, taking the highest version by
// number so that 16 wins over 9.6.
func program(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob(filepath.Join("/usr/lib/postgresql/*/bin", name))
	best, bestVersion := "", -1.0
	for _, m := range matches {
		version := filepath.Base(filepath.Dir(filepath.Dir(m)))
		v, err := strconv.ParseFloat(version, 64)
		if err == nil && v > bestVersion {
			best, bestVersion = m, v
		}
	}
	return best
}

// tail returns the last few kilobytes of a server's log, to explain a
// server that would not start.
func tail(path string) string {
	const keep = 4000
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return string(data)
}
