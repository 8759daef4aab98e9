package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Kubectl runs the system kubectl inside the node's namespace against the node's kubeconfig.
func (n *Node) Kubectl(args ...string) (stdout, stderr string, err error) {
	return n.KubectlIn("", args...)
}

// KubectlIn is Kubectl with stdin (for `apply -f -` and `exec -i`).
func (n *Node) KubectlIn(stdin string, args ...string) (stdout, stderr string, err error) {
	bin, err := systemKubectl()
	if err != nil {
		return "", "", err
	}
	return n.runKubectl(stdin, []string{bin}, args)
}

// PodnetKubectl runs `podnet kubectl` (the embedded kubectl) the same way.
func (n *Node) PodnetKubectl(args ...string) (stdout, stderr string, err error) {
	return n.PodnetKubectlIn("", args...)
}

// PodnetKubectlIn is PodnetKubectl with stdin.
func (n *Node) PodnetKubectlIn(stdin string, args ...string) (stdout, stderr string, err error) {
	return n.runKubectl(stdin, []string{n.bin, "kubectl"}, args)
}

// MustKubectl runs the system kubectl and fails t, with kubectl's stderr, if it fails.
func (n *Node) MustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := n.Kubectl(args...)
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	return out
}

// runKubectl puts the connection flags first so that they never land after a `--` in args.
// The private --cache-dir keeps a discovery cache from another node (or another run) out.
func (n *Node) runKubectl(stdin string, command, args []string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.KubectlTimeout)
	defer cancel()
	argv := append([]string{}, command[1:]...)
	argv = append(argv, "--kubeconfig", n.KubeconfigPath(), "--cache-dir", n.cacheDir)
	argv = append(argv, args...)
	out, errOut, err := runIn(ctx, n.NodeNSPath(), stdin, n.opts.Env, command[0], argv...)
	if err != nil && ctx.Err() != nil {
		err = &timeoutError{what: "kubectl " + strings.Join(args, " "), after: n.opts.KubectlTimeout.String(), err: err}
	}
	return out, errOut, err
}

type timeoutError struct {
	what, after string
	err         error
}

func (e *timeoutError) Error() string { return e.what + ": timed out after " + e.after }
func (e *timeoutError) Unwrap() error { return e.err }

// KubectlTTY runs the system kubectl with a pseudo-terminal as its stdin, stdout and stderr (for
// `run -it`, `exec -it`, `attach -it`), types input into it, and returns everything the terminal
// showed once kubectl exits.
func (n *Node) KubectlTTY(input string, args ...string) (string, error) {
	bin, err := systemKubectl()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.KubectlTimeout)
	defer cancel()
	argv := append([]string{"--net=" + n.NodeNSPath(), "--", bin, "--kubeconfig", n.KubeconfigPath(), "--cache-dir", n.cacheDir}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", argv...)
	cmd.Env = append(os.Environ(), n.opts.Env...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		return "", fmt.Errorf("kubectl under a pty: %w", err)
	}
	defer tty.Close()
	if input != "" {
		go func() { tty.Write([]byte(input)) }()
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, tty); close(done) }()
	err = cmd.Wait()
	select { // the pty reports EIO once the last process holding it is gone
	case <-done:
	case <-time.After(2 * time.Second):
	}
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}
