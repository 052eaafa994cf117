package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/callback-dispatcher/dispatcher/internal/store"
)

func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"a refused connection is unavailable",
			&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"a timeout is unavailable", fmt.Errorf("check: %w", context.DeadlineExceeded), true},
		// The chaos suite met this one: a server stopping mid-handshake.
		{"a connection dropped mid-handshake is unavailable",
			fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"a server starting up is unavailable", &pgconn.PgError{Code: "57P03"}, true},
		{"a server shutting down is unavailable", &pgconn.PgError{Code: "57P01"}, true},
		{"a refused password is not", &pgconn.PgError{Code: "28P01"}, false},
		{"a missing database is not", &pgconn.PgError{Code: "3D000"}, false},
		{"a plain error is not", errors.New("load migrations: bad file"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := store.IsUnavailable(c.err); got != c.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

func TestIsUnavailableOnAClosedPort(t *testing.T) {
	t.Parallel()
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.CheckMigrated(ctx)
	if err == nil || !store.IsUnavailable(err) {
		t.Errorf("CheckMigrated on a closed port: %v; want an error IsUnavailable accepts", err)
	}
}
