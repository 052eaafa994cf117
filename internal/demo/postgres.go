package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
)

// startPostgres returns DATABASE_URL when set, or starts a throwaway
// PostgreSQL cluster in dir. It returns "" when PostgreSQL is not installed:
// the demo then runs without the dead-letter store, and says so.
func startPostgres(ctx context.Context, out io.Writer, dir string) (string, func(), error) {
	if url := os.Getenv("DATABASE_URL"); url != "" {
		fmt.Fprintln(out, "==> using DATABASE_URL")
		return url, func() {}, nil
	}
	initdb, pgctl := pgProgram("initdb"), pgProgram("pg_ctl")
	if initdb == "" || pgctl == "" {
		fmt.Fprintln(out, "==> PostgreSQL is not installed: dead letters stay in asynq's "+
			"archive for this run (apt-get install postgresql for the durable store)")
		return "", func() {}, nil
	}
	pgdir := filepath.Join(dir, "pg")
	if err := os.MkdirAll(pgdir, 0o755); err != nil {
		return "", nil, err
	}
	if err := chownPostgres(dir, pgdir); err != nil {
		return "", nil, err
	}
	data := filepath.Join(pgdir, "data")
	if out, err := asPostgres(ctx, initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"--no-sync").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	_, port := splitAddr(freeAddr())
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %s -k %s -c fsync=off", port, pgdir)
	if out, err := asPostgres(ctx, pgctl, "-D", data, "-l", filepath.Join(pgdir, "log"), "-w",
		"-t", "30", "-o", opts, "start").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("start PostgreSQL: %w\n%s", err, out)
	}
	stop := func() {
		_ = asPostgres(context.Background(), pgctl, "-D", data, "-m", "fast", "-w", "stop").Run()
	}
	fmt.Fprintf(out, "==> throwaway PostgreSQL on 127.0.0.1:%s\n", port)
	return "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable", stop, nil
}

func asPostgres(ctx context.Context, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser",
			append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// chownPostgres lets the postgres user into the demo's directories when the
// demo runs as root, since initdb refuses root.
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

func splitAddr(addr string) (string, string) {
	host, port, _ := net.SplitHostPort(addr)
	return host, port
}
