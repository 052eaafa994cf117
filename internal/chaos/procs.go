package chaos

import (
	"path/filepath"

	"github.com/callback-dispatcher/dispatcher/internal/child"
)

// proc is one program the run started: the simulator, the producer API or
// a worker, with its log in a file of its own.
type proc = child.Proc

// startProc starts bin with env added to the run's environment, logging to
// dir/logs/name.log.
func startProc(dir, name, bin string, env []string, args ...string) (*proc, error) {
	return child.Start(filepath.Join(dir, "logs", name+".log"), name, bin, env, args...)
}
