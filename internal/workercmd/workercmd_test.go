package workercmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

func TestWorkerRefusesAnUnmigratedSchema(t *testing.T) {
	_, redisURL := testenv.Redis(t)
	t.Setenv("REDIS_URL", redisURL)
	t.Setenv("DATABASE_URL", testenv.Postgres(t))
	t.Setenv("IMS_CLIENT_ID", "client")
	t.Setenv("IMS_CLIENT_SECRET", "secret")
	t.Setenv("OPS_LISTEN", "127.0.0.1:0")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), nil, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "producer migrate up") {
		t.Errorf("the refusal does not say what to run:\n%s", stderr.String())
	}
}

func TestWorkerHelpListsItsSettings(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, name := range []string{"IMS_CLIENT_ID", "DATABASE_URL", "OPS_LISTEN", "RETRY_BASE"} {
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("--help lacks %s", name)
		}
	}
}
