package producer

import (
	"strings"
	"time"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// maxClockSkew is how far in the future a receivedAt may lie, for clocks
// that disagree a little.
const maxClockSkew = 5 * time.Minute

// headerValues refuses control characters in the values that travel as
// HTTP headers (X-Callback-Token, X-Request-Id, x-gw-ims-org-id): no HTTP
// client can send them, so the callback could never be delivered.
func headerValues(exec *callback.ExecutionRequest, requestID string) callback.Violations {
	var vs callback.Violations
	for _, f := range []struct{ path, value string }{
		{"execution.token", exec.Token},
		{"requestId", requestID},
		{"execution.context.subscription.imsOrgId", exec.Context.Subscription.IMSOrgID},
	} {
		if strings.ContainsFunc(f.value, isControl) {
			vs = append(vs, callback.Violation{Path: f.path, Code: callback.CodeInvalidValue,
				Message: "must not contain control characters: it is sent as an HTTP header"})
		}
	}
	return vs
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
