// Package wire is what the shim process (package proc) and the daemon's side (package shim) must
// agree on: the state directory's file names, exit.json, the start report and the attach frames.
// It imports no more than the shim binary may carry (no reflection-based encoders), so the shim
// writes its JSON by hand and the daemon reads it with encoding/json.
package wire
