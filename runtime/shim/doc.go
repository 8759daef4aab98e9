// Package shim owns podnet's per-container shim: the daemon's side of it (Start, Adopt, Shim,
// ReadLog) here, the shim process itself in proc (cmd/podnet-shim's Main, kept to few imports so
// that each shim stays small), and what both must agree on in wire.
//
// # Process model
//
// The daemon runs `podnet-shim [flags] -- ARGV...` (Config.Args builds the flags). That first
// process re-executes itself with --detached in a new session and waits only until the detached
// shim has started ARGV (or failed); it then relays the outcome to the daemon through file
// descriptor 3 (one JSON object, wire.Report) and exits, so the daemon reaps it at once and never
// becomes the parent of the long-lived shim. The detached shim makes itself a child subreaper,
// holds the container's stdio, writes the CRI-format log, serves attach, reaps the child and
// writes exit.json, then exits.
//
// # State directory
//
//	shim.pid     the detached shim's pid (decimal)
//	child.pid    ARGV's pid as seen from the host (decimal)
//	attach.sock  the attach server (below)
//	exit.json    {"exitCode":N,"signal":"SIGKILL","startedAt":…,"finishedAt":…,"oomKilled":bool},
//	             written by rename once the child is reaped and its output has been logged
//	shim.log     the detached shim's own diagnostics (its stderr)
//
// # Attach protocol (attach.sock, SOCK_STREAM)
//
// Every message in either direction is a frame: one type byte, a big-endian uint32 payload length,
// then the payload (at most 1 MiB). The client speaks first with one frameHello whose one-byte
// payload is a bit set of the streams it wants (1 stdin, 2 stdout, 4 stderr). Then:
//
//	client → shim  frameStdin (1)       bytes for the child's stdin (dropped unless --stdin)
//	client → shim  frameStdinClose (2)  the client's stdin ended; with --stdin-once this closes
//	                                    the child's stdin (as does the first client leaving)
//	client → shim  frameResize (3)      4 bytes: rows, cols (uint16 each, big-endian); TIOCSWINSZ
//	shim → client  frameStdout (1)      output the child wrote to stdout (or to the pty)
//	shim → client  frameHello (0)       empty, first: the client is attached; all output from
//	                                    here on reaches it
//	shim → client  frameStderr (2)      output the child wrote to stderr
//
// Output is fanned out to every attached client from the moment it attaches (no replay). A client
// that falls more than 64 frames behind is disconnected rather than stalling the container.
// When the child has exited and its output is drained, the shim closes every connection: EOF on
// the socket is the end of the attach session.
//
// # Logs
//
// One CRI log record per line of output: `<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>\n`;
// lines longer than 16 KiB are cut into P (partial) records ending with an F record. The file is
// rotated before a record would take it past the size limit: PATH.(n-1) is dropped, PATH.i moves
// to PATH.(i+1) and PATH to PATH.1. ReadLog reads them back as kubelet does for `kubectl logs`.
package shim
