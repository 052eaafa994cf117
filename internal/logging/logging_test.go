package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestRedisMessagesBecomeJSONLines(t *testing.T) {
	var buf bytes.Buffer
	l := redisLogger{log: New(&buf, slog.LevelWarn, "worker").With("component", "redis")}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts", 5)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["level"] != "WARN" || line["msg"] != "redis client" || line["program"] != "worker" ||
		line["component"] != "redis" ||
		line["detail"] != "redis: connection pool: failed to dial after 5 attempts" {
		t.Errorf("got %v", line)
	}
}
