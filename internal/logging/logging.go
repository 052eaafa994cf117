// Package logging builds the programs' slog loggers: JSON lines on stderr.
package logging

import (
	"io"
	"log/slog"
)

// New returns a JSON logger at level writing to w, with the program's name
// on every line.
func New(w io.Writer, level slog.Level, program string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("program", program)
}
