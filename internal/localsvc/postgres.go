package localsvc

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"time"
)

// PostgresOptions tunes a throwaway PostgreSQL server. The zero value suits
// most uses.
type PostgresOptions struct {
	// MaxConnections is the server's max_connections; 0 keeps PostgreSQL's
	// default of 100.
	MaxConnections int
	// StartTimeout is how long a start waits for the server to accept
	// connections; 0 means 30 s. After Stop the server replays its WAL
	// first, which takes longer after a busy run.
	StartTimeout time.Duration
}

// Postgres is a throwaway PostgreSQL cluster on a loopback port. Its data,
// log and unix socket are in one directory. It runs with fsync=off and lets
// anyone connect as the postgres superuser without a password.
//
// A Postgres is not safe for concurrent use.
type Postgres struct {
	dir   string
	addr  string
	pgctl string
	opts  PostgresOptions
}

// StartPostgres creates a cluster in dir (initdb), starts it on a free
// loopback port and waits until it accepts connections. dir is created when
// missing. The error wraps ErrNotInstalled when initdb or pg_ctl cannot be
// found.
//
// When this process is root, the server runs as the postgres user, since
// initdb refuses root: dir is handed to that user, and so is the directory
// holding dir if others may not pass through it (as with one made by
// os.MkdirTemp). Put dir in a directory made for the purpose, never
// directly in a private one such as a home directory.
//
// The caller stops the server with Close and then removes dir.
func StartPostgres(ctx context.Context, dir string, opts PostgresOptions) (*Postgres, error) {
	initdb, pgctl := program("initdb"), program("pg_ctl")
	if initdb == "" || pgctl == "" {
		return nil, fmt.Errorf("PostgreSQL's initdb and pg_ctl: %w (apt-get install postgresql)",
			ErrNotInstalled)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	pg := &Postgres{dir: dir, addr: addr, pgctl: pgctl, opts: opts}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create PostgreSQL's directory: %w", err)
	}
	if err := giveToPostgres(dir); err != nil {
		return nil, err
	}
	out, err := asPostgres(ctx, initdb, "-D", pg.data(), "-U", "postgres", "-A", "trust",
		"--no-sync").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	if err := pg.Start(ctx); err != nil {
		pg.Close()
		return nil, err
	}
	return pg, nil
}

// Addr is the server's TCP address, 127.0.0.1 and its port.
func (pg *Postgres) Addr() string { return pg.addr }

// URL connects to the server's postgres database as the postgres user.
func (pg *Postgres) URL() string {
	return "postgres://postgres@" + pg.addr + "/postgres?sslmode=disable"
}

// Start starts the server and waits until it accepts connections. It is
// called once by StartPostgres, and again after Stop to end an outage.
func (pg *Postgres) Start(ctx context.Context) error {
	_, port, _ := net.SplitHostPort(pg.addr)
	settings := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %s -k %s -c fsync=off",
		port, pg.dir)
	if pg.opts.MaxConnections > 0 {
		settings += fmt.Sprintf(" -c max_connections=%d", pg.opts.MaxConnections)
	}
	wait := cmp.Or(pg.opts.StartTimeout, 30*time.Second)

	out, err := asPostgres(ctx, pg.pgctl, "-D", pg.data(), "-l", pg.log(), "-w",
		"-t", strconv.Itoa(max(1, int(wait.Seconds()))), "-o", settings,
		"start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("start PostgreSQL: %w\n%s\n%s", err, out, tail(pg.log()))
	}
	return nil
}

// Stop stops the server at once (pg_ctl's immediate mode), as a crash or an
// outage would: every connection drops, and the next Start recovers from
// the WAL. It fails when the server is not running.
func (pg *Postgres) Stop(ctx context.Context) error {
	out, err := asPostgres(ctx, pg.pgctl, "-D", pg.data(), "-m", "immediate", "-w",
		"stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("stop PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

// Close stops the server for good, if it runs. It leaves the directory to
// the caller.
func (pg *Postgres) Close() {
	_ = pg.Stop(context.Background())
}

func (pg *Postgres) data() string { return filepath.Join(pg.dir, "data") }

func (pg *Postgres) log() string { return filepath.Join(pg.dir, "log") }

// asPostgres makes the command that runs a PostgreSQL program: as the
// postgres user when this process is root, since initdb and postgres refuse
// to run as root.
func asPostgres(ctx context.Context, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser",
			append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// giveToPostgres hands dir to the postgres user when this process is root,
// and the directory holding it too when others may not pass through it,
// since the server must reach dir. A shared parent such as /tmp is left
// alone.
func giveToPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("look up the postgres user, which runs PostgreSQL for root: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	dirs := []string{dir}
	if fi, err := os.Stat(filepath.Dir(dir)); err == nil && fi.Mode().Perm()&0o001 == 0 {
		dirs = append(dirs, filepath.Dir(dir))
	}
	for _, d := range dirs {
		if err := os.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("give %s to the postgres user: %w", d, err)
		}
	}
	return nil
}
