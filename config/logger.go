package config

import (
	"io"
	"log/slog"
)

// Logger builds the daemon's logger writing to w. A level or format that failed validation falls
// back to info and text, so that the validation error itself can still be logged.
func (c Config) Logger(w io.Writer) *slog.Logger {
	lvl, ok := logLevels[c.Log.Level]
	if !ok {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
