package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/redisconn"
)

// BareSettings configure the baseline: a bare asynq server whose handler
// POSTs each job's body with the contract's headers, and nothing else.
type BareSettings struct {
	RedisURL    string
	Queue       string
	Concurrency int
	// TaskCheck is asynq's poll interval on an empty queue, the same as
	// the worker's.
	TaskCheck time.Duration
	TokenURL  string
	ClientID  string
	Secret    string
}

// bareEnv passes BareSettings to the baseline's process.
func (s BareSettings) env() []string {
	return []string{"REDIS_URL=" + s.RedisURL, "QUEUE=" + s.Queue,
		"CONCURRENCY=" + strconv.Itoa(s.Concurrency), "TASK_CHECK_INTERVAL=" + s.TaskCheck.String(),
		"IMS_TOKEN_URL=" + s.TokenURL, "IMS_CLIENT_ID=" + s.ClientID,
		"IMS_CLIENT_SECRET=" + s.Secret}
}

// BareSettingsFromEnv reads the settings env wrote.
func BareSettingsFromEnv() (BareSettings, error) {
	s := BareSettings{RedisURL: os.Getenv("REDIS_URL"), Queue: os.Getenv("QUEUE"),
		TokenURL: os.Getenv("IMS_TOKEN_URL"), ClientID: os.Getenv("IMS_CLIENT_ID"),
		Secret: os.Getenv("IMS_CLIENT_SECRET")}
	var err error
	if s.Concurrency, err = strconv.Atoi(os.Getenv("CONCURRENCY")); err != nil {
		return s, fmt.Errorf("CONCURRENCY: %w", err)
	}
	if s.TaskCheck, err = time.ParseDuration(os.Getenv("TASK_CHECK_INTERVAL")); err != nil {
		return s, fmt.Errorf("TASK_CHECK_INTERVAL: %w", err)
	}
	return s, nil
}

// RunBare runs the baseline until ctx ends.
func RunBare(ctx context.Context, s BareSettings) error {
	conn, err := redisconn.Parse(s.RedisURL)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	creds := clientcredentials.Config{ClientID: s.ClientID, ClientSecret: s.Secret,
		TokenURL: s.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
	// The same wire as the dispatcher's: no Accept-Encoding, no User-Agent.
	transport := &http.Transport{MaxIdleConns: s.Concurrency,
		MaxIdleConnsPerHost: s.Concurrency, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true}
	sender := &bareSender{
		tokens: creds.TokenSource(context.Background()),
		client: &http.Client{Transport: transport, Timeout: 10 * time.Second},
		apiKey: s.ClientID,
	}
	srv := asynq.NewServer(conn.Opt, asynq.Config{
		Concurrency:       s.Concurrency,
		Queues:            map[string]int{s.Queue: 1},
		TaskCheckInterval: s.TaskCheck,
		LogLevel:          asynq.WarnLevel,
	})
	if err := srv.Start(sender); err != nil {
		return fmt.Errorf("start bare asynq server: %w", err)
	}
	<-ctx.Done()
	srv.Shutdown()
	return nil
}

// bareSender is the baseline's handler.
type bareSender struct {
	tokens oauth2.TokenSource
	client *http.Client
	apiKey string
}

// ProcessTask POSTs the job's body once; any answer but 2xx is an error for
// asynq to retry.
func (b *bareSender) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var j job.Job
	if err := json.Unmarshal(t.Payload(), &j); err != nil {
		return fmt.Errorf("decode job: %w", errors.Join(err, asynq.SkipRetry))
	}
	tok, err := b.tokens.Token()
	if err != nil {
		return fmt.Errorf("get token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.CallbackURL,
		bytes.NewReader(j.Body))
	if err != nil {
		return fmt.Errorf("build request: %w", errors.Join(err, asynq.SkipRetry))
	}
	req.Header.Set("X-Callback-Token", j.Token)
	req.Header.Set("X-Api-Key", b.apiKey)
	req.Header.Set("X-Request-Id", j.RequestID)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("X-Gw-Ims-Org-Id", j.OrgID)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("callback answered %d", resp.StatusCode)
	}
	return nil
}
