// Package proc is the shim process itself (cmd/podnet-shim's Main): detaching from the daemon,
// starting the container's command with its stdio, the CRI log, the attach server, reaping and
// exit.json. Package shim documents the protocol and is the daemon's side.
//
// It imports only what the shim binary may carry (the standard library without fmt, flag, net or
// encoding/json; x/sys; creack/pty): one shim runs beside every container, and every package's
// code and initialisers touched cost resident memory in each of them.
package proc
