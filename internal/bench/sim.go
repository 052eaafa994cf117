package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/callback-dispatcher/dispatcher/internal/adobesim"
	"github.com/callback-dispatcher/dispatcher/internal/child"
)

// simClient talks to a simulator process's /sim/ endpoints.
type simClient struct {
	base string
	http *http.Client
}

func (s *simClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("simulator %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("simulator %s %s answered %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func (s *simClient) stats(ctx context.Context) (adobesim.Stats, error) {
	var st adobesim.Stats
	err := s.do(ctx, http.MethodGet, "/sim/stats", nil, &st)
	return st, err
}

func (s *simClient) reset(ctx context.Context) error {
	return s.do(ctx, http.MethodPost, "/sim/reset", nil, nil)
}

func (s *simClient) setRule(ctx context.Context, match, script string) error {
	return s.do(ctx, http.MethodPut, "/sim/rules", adobesim.Rule{Match: match, Script: script}, nil)
}

// received returns every record since the last reset.
func (s *simClient) received(ctx context.Context) ([]adobesim.Record, error) {
	var rep struct {
		Callbacks []adobesim.Record `json:"callbacks"`
	}
	err := s.do(ctx, http.MethodGet, "/sim/received", nil, &rep)
	return rep.Callbacks, err
}

// waitAccepted polls until the simulator has accepted want callbacks since
// its last reset, calling each with every poll's count. It gives up after
// limit without progress.
func (s *simClient) waitAccepted(ctx context.Context, want int, limit time.Duration,
	each func(accepted int) error) error {
	last, lastAt := -1, time.Now()
	for {
		st, err := s.stats(ctx)
		if err != nil {
			return err
		}
		if each != nil {
			if err := each(st.Accepted); err != nil {
				return err
			}
		}
		if st.Accepted >= want {
			return nil
		}
		if st.Accepted != last {
			last, lastAt = st.Accepted, time.Now()
		} else if time.Since(lastAt) > limit {
			return fmt.Errorf("simulator stuck at %d of %d callbacks accepted (%d rejected)",
				st.Accepted, want, st.Rejected)
		}
		if err := child.Sleep(ctx, 25*time.Millisecond); err != nil {
			return err
		}
	}
}
