package producer

import (
	"fmt"

	"github.com/callback-dispatcher/dispatcher/pkg/callback"
)

// CodeUnknownService is the violation code of a callback naming a service
// no definition is loaded for.
const CodeUnknownService = "unknown_service"

// WithService names the service definition (by apiName) a result follows.
func WithService(apiName string) Option { return func(o *options) { o.service = apiName } }

// definition finds the service definition a callback names, or the
// default one. With no definitions configured it returns nil: only the
// envelope, the success rule and the IDs are checked then.
func (c *Client) definition(apiName, path string) (*callback.ServiceDefinition, error) {
	reg := c.cfg.Definitions
	if reg == nil {
		return nil, nil
	}
	def, ok := reg.Lookup(apiName)
	switch {
	case ok:
		return def, nil
	case apiName == "":
		return nil, callback.Violations{{Path: path, Code: callback.CodeRequired,
			Message: fmt.Sprintf("names the service definition the result follows; "+
				"%d are loaded and none is the default", len(reg.Definitions()))}}
	}
	return nil, callback.Violations{{Path: path, Code: CodeUnknownService,
		Message: fmt.Sprintf("no service definition has apiName %q", apiName)}}
}

// timeoutMinutes is the callback deadline after receipt: the request's
// actionConfig.timeout, else the definition's timeout, else 60 minutes.
func timeoutMinutes(exec *callback.ExecutionRequest, def *callback.ServiceDefinition) int {
	if exec.ActionConfig.Timeout <= 0 && def != nil && def.Timeout > 0 {
		return min(def.Timeout, callback.MaxTimeoutMinutes)
	}
	return exec.ActionConfig.TimeoutMinutes()
}

func serviceName(def *callback.ServiceDefinition) string {
	if def == nil {
		return ""
	}
	return def.APIName
}
