package streaming

import (
	"context"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
)

// Pods is what the API server needs from the node to serve the streaming subresources. The
// API server has already checked that the pod exists, that container names one of its
// containers, and (from the pod's status) that the container can be streamed from.
type Pods interface {
	// Logs writes the container's log to w as opts ask (previous, follow, sinceSeconds,
	// sinceTime, timestamps, tailLines) and returns when the log is written, or, with Follow,
	// when the container has stopped and its log is drained or ctx ends. The caller enforces
	// LimitBytes: w fails once the limit is reached, and Logs should return that error.
	Logs(ctx context.Context, pod *corev1.Pod, container string, opts *corev1.PodLogOptions, w io.Writer) error
	// Exec runs cmd in the container with the given streams and returns when it has exited
	// and its output is written: nil for exit code 0, an *ExitError for another exit code,
	// any other error when the command could not be run. ctx ends when the client is gone.
	Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, s Streams) error
	// Attach connects the streams to the running container's own stdio and returns when the
	// client detaches (ctx ends or, without TTY, stdin closes) or the container exits.
	Attach(ctx context.Context, pod *corev1.Pod, container string, s Streams) error
}

// Streams are the client's ends of an exec or attach session. Only what the client asked for
// is set: Stdin, Stdout and Stderr are nil otherwise, Stderr is always nil with TTY (a
// terminal has one output), Resize is nil without TTY.
type Streams struct {
	// Stdin reaches EOF when the client closes its input (kubectl exec -i with a finite input).
	Stdin io.Reader
	// Stdout and Stderr are safe to use from two goroutines at once.
	Stdout, Stderr io.Writer
	TTY            bool
	// Resize delivers the client's terminal size, first at once and then on every change; it
	// is closed when the client goes away.
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters, as the resize channel carries it.
type TerminalSize struct {
	Width  uint16
	Height uint16
}

// ExitError reports that an exec'd command (or an attached container) exited with a non-zero
// code; the client sees it as the command's exit status. Return it as *ExitError.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }
