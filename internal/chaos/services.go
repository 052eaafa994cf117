package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// redisServer is a redis-server of the run's own with an append-only file,
// which the run crashes and starts again on the same port and directory.
type redisServer struct {
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed (apt-get install redis-server)")
	}
	r := &redisServer{dir: filepath.Join(dir, "redis"), addr: freeAddr()}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	if err := r.start(ctx, path); err != nil {
		return nil, err
	}
	return r, nil
}

// start runs redis-server and waits until it answers. AOF with fsync every
// second is what the dispatcher's README asks of the queue's Redis.
func (r *redisServer) start(ctx context.Context, path string) error {
	host, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command(path, "--bind", host, "--port", port, "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	return waitTCP(ctx, r.addr, 20*time.Second)
}

// crash kills redis-server with SIGKILL, as an OOM kill or a node failure
// of the process would, and waits until it is gone.
func (r *redisServer) crash() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// restart starts redis-server again on the same port and directory: it
// loads the append-only file before it answers.
func (r *redisServer) restart(ctx context.Context) error {
	return r.start(ctx, r.cmd.Path)
}

// stop ends redis-server for good.
func (r *redisServer) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.crash()
	}
}

func (r *redisServer) url() string { return "redis://" + r.addr + "/0" }

// pgCluster is a PostgreSQL cluster of the run's own (initdb), run as the
// postgres user when the run is root, since initdb refuses root.
type pgCluster struct {
	dir   string
	port  string
	pgctl string
}

func startPostgres(ctx context.Context, dir string) (*pgCluster, error) {
	initdb, pgctl := pgProgram("initdb"), pgProgram("pg_ctl")
	if initdb == "" || pgctl == "" {
		return nil, errors.New("PostgreSQL is not installed (apt-get install postgresql)")
	}
	_, port, _ := net.SplitHostPort(freeAddr())
	pg := &pgCluster{dir: filepath.Join(dir, "pg"), port: port, pgctl: pgctl}
	if err := os.MkdirAll(pg.dir, 0o755); err != nil {
		return nil, err
	}
	if err := chownPostgres(dir, pg.dir); err != nil {
		return nil, err
	}
	out, err := asPostgres(ctx, initdb, "-D", pg.data(), "-U", "postgres", "-A", "trust",
		"--no-sync").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return pg, pg.start(ctx)
}

func (pg *pgCluster) data() string { return filepath.Join(pg.dir, "data") }

// start starts the cluster and waits until it accepts connections.
func (pg *pgCluster) start(ctx context.Context) error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %s -k %s -c fsync=off "+
		"-c max_connections=200", pg.port, pg.dir)
	out, err := asPostgres(ctx, pg.pgctl, "-D", pg.data(), "-l", filepath.Join(pg.dir, "log"),
		"-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("start PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

// crash stops the cluster at once (immediate mode), as an outage would.
func (pg *pgCluster) crash(ctx context.Context) error {
	out, err := asPostgres(ctx, pg.pgctl, "-D", pg.data(), "-m", "immediate", "-w",
		"stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("stop PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

// stop ends the cluster for good; it does nothing when it is already down.
func (pg *pgCluster) stop() {
	_ = asPostgres(context.Background(), pg.pgctl, "-D", pg.data(), "-m", "immediate", "-w",
		"stop").Run()
}

func (pg *pgCluster) url() string {
	return "postgres://postgres@127.0.0.1:" + pg.port + "/postgres?sslmode=disable"
}

func asPostgres(ctx context.Context, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser",
			append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// chownPostgres gives the postgres user the run's directories when the run
// is root.
func chownPostgres(dirs ...string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs a postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range dirs {
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func pgProgram(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Strings(matches)
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

func freeAddr() string {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitTCP polls addr until it accepts a connection or timeout passes.
func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	dialer := net.Dialer{Timeout: time.Second}
	for {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
