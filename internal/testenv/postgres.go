package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// PGServer is a PostgreSQL cluster of a test's own, which the test may stop
// and start again to play an outage.
type PGServer struct {
	t    testing.TB
	dir  string
	port int
	// URL connects to its postgres database.
	URL string
}

// StartPostgres creates a throwaway PostgreSQL cluster (initdb) on a free
// loopback port, stopped and removed after the test. It fails the test when
// PostgreSQL's programs are not installed.
func StartPostgres(t testing.TB) *PGServer {
	t.Helper()
	initdb, pgctl := pgProgram("initdb"), pgProgram("pg_ctl")
	if initdb == "" || pgctl == "" {
		t.Fatal("PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)")
	}
	dir, err := os.MkdirTemp("", "cd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &PGServer{t: t, dir: dir, port: freePort(t)}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	s.chownForPostgres(dir)
	if out, err := s.asPostgres(initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"-A", "trust", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = s.asPostgres(pgctl, "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w",
			"stop").Run()
		os.RemoveAll(dir)
	})
	s.Start()
	return s
}

// Start starts (or restarts) the server and waits until it accepts
// connections.
func (s *PGServer) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off", s.port, s.dir)
	out, err := s.asPostgres(pgProgram("pg_ctl"), "-D", filepath.Join(s.dir, "data"), "-l",
		filepath.Join(s.dir, "log"), "-w", "-t", "30", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.t.Fatalf("start PostgreSQL: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server at once, as a crash or an outage would.
func (s *PGServer) Stop() {
	s.t.Helper()
	out, err := s.asPostgres(pgProgram("pg_ctl"), "-D", filepath.Join(s.dir, "data"), "-m",
		"immediate", "-w", "stop").CombinedOutput()
	if err != nil {
		s.t.Fatalf("stop PostgreSQL: %v\n%s", err, out)
	}
}

// asPostgres runs a PostgreSQL program, as the postgres user when the test
// runs as root (initdb refuses root).
func (s *PGServer) asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (s *PGServer) chownForPostgres(dir string) {
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		s.t.Fatalf("running as root needs a postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		s.t.Fatal(err)
	}
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

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
