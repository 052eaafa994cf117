package delivery

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/job"
	"github.com/callback-dispatcher/dispatcher/internal/urlguard"
)

var loopbackGuard = urlguard.New(urlguard.Config{AllowedHosts: []string{"127.0.0.1"},
	AllowHTTP: true, AllowPrivate: true})

func testJob(url string) *job.Job {
	return &job.Job{CallbackURL: url, Token: "exec-token-1", RequestID: "req-1",
		OrgID: "12345ABCDE@AdobeOrg", Body: json.RawMessage(`{"objectData":[]}`)}
}

// TestHeadersOnTheWire reads the raw request a callback puts on the wire and
// compares its header block byte for byte.
func TestHeadersOnTheWire(t *testing.T) {
	t.Parallel()
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	head := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		var b strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			b.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		head <- b.String()
		io.CopyN(io.Discard, r, int64(len(`{"objectData":[]}`)))
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	}()

	s := NewSender(loopbackGuard, FixedAPIKey("client-id-1"), Timeouts{}, 1)
	url := "http://" + ln.Addr().String() + "/callback/x"
	if res := s.Send(context.Background(), testJob(url), "ims-token-1"); res.Class != Delivered {
		t.Fatalf("got %+v, want delivered", res)
	}
	want := "POST /callback/x HTTP/1.1\r\n" +
		"Host: " + ln.Addr().String() + "\r\n" +
		"Content-Length: 17\r\n" +
		"Authorization: Bearer ims-token-1\r\n" +
		"Content-Type: application/json\r\n" +
		"X-Api-Key: client-id-1\r\n" +
		"X-Callback-Token: exec-token-1\r\n" +
		"X-Request-Id: req-1\r\n" +
		"x-gw-ims-org-id: 12345ABCDE@AdobeOrg\r\n" +
		"\r\n"
	if got := <-head; got != want {
		t.Errorf("request head\n got %q\nwant %q", got, want)
	}
}

func TestAPIKeyFollowsTheCallbacksOrg(t *testing.T) {
	t.Parallel()
	keys := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		keys <- r.Header.Get("X-Api-Key")
	}))
	defer srv.Close()
	byOrg := map[string]string{"ACME@AdobeOrg": "acme-client", "GLOBEX@AdobeOrg": "globex-client"}
	s := NewSender(loopbackGuard, func(org string) string { return byOrg[org] }, Timeouts{}, 1)
	for org, want := range byOrg {
		j := testJob(srv.URL)
		j.OrgID = org
		if res := s.Send(context.Background(), j, "t"); res.Class != Delivered {
			t.Fatalf("callback of %s: got %+v, want delivered", org, res)
		}
		if got := <-keys; got != want {
			t.Errorf("callback of %s carried X-Api-Key %q, want %q", org, got, want)
		}
	}
}

func TestAnswersAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter string
		want       Class
		wantWait   time.Duration
	}{
		{status: 200, want: Delivered},
		{status: 202, want: Delivered},
		{status: 301, want: Redirected},
		{status: 307, want: Redirected},
		{status: 400, want: Rejected4xx},
		{status: 401, want: Unauthorized},
		{status: 403, want: Rejected4xx},
		{status: 404, want: Rejected4xx},
		{status: 429, retryAfter: "7", want: RateLimited, wantWait: 7 * time.Second},
		{status: 429, want: RateLimited},
		{status: 500, want: Retry5xx},
		{status: 503, want: Retry5xx},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+" is "+string(tt.want), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status >= 300 && tt.status < 400 {
					w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, `{"error":{"code":"X"}}`)
			}))
			defer srv.Close()
			res := NewSender(loopbackGuard, FixedAPIKey("k"), Timeouts{}, 1).Send(
				context.Background(), testJob(srv.URL), "t")
			if res.Class != tt.want || res.Status != tt.status || res.RetryAfter != tt.wantWait {
				t.Errorf("got %+v, want class %s status %d wait %s", res, tt.want, tt.status,
					tt.wantWait)
			}
			if tt.want != Delivered && res.Excerpt != `{"error":{"code":"X"}}` {
				t.Errorf("excerpt %q", res.Excerpt)
			}
		})
	}
}

func TestSlowAnswerIsATimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	sender := NewSender(loopbackGuard, FixedAPIKey("k"), Timeouts{Total: 100 * time.Millisecond},
		1)
	res := sender.Send(context.Background(), testJob(srv.URL), "t")
	if res.Class != Timeout {
		t.Fatalf("got %+v, want timeout", res)
	}
	if strings.Contains(res.Err.Error(), srv.URL) {
		t.Errorf("error repeats the callback URL: %v", res.Err)
	}
}

func TestRefusedConnectionIsANetworkFault(t *testing.T) {
	t.Parallel()
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res := NewSender(loopbackGuard, FixedAPIKey("k"), Timeouts{}, 1).Send(context.Background(),
		testJob("http://"+addr+"/cb"), "t")
	if res.Class != RetryNetwork {
		t.Fatalf("got %+v, want retry_network", res)
	}
}

func TestGuardRefusesBeforeSending(t *testing.T) {
	t.Parallel()
	strict := urlguard.New(urlguard.Config{})
	tests := []string{
		"http://adobe.com/cb",          // plain http
		"https://evil.example.com/cb",  // not allowed
		"https://127.0.0.1/cb",         // not allowed, loopback
		"https://adobe.com.evil.io/cb", // suffix trick
	}
	for _, url := range tests {
		res := NewSender(strict, FixedAPIKey("k"), Timeouts{}, 1).Send(context.Background(),
			testJob(url), "t")
		if res.Class != Refused {
			t.Errorf("%s: got %+v, want url_refused", url, res)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"12", 12 * time.Second},
		{"999999999", 24 * time.Hour},
		{"Fri, 04 Dec 2026 12:00:30 GMT", 30 * time.Second},
		{"Fri, 04 Dec 2026 11:59:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
