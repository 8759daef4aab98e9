package cni

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// waitDelay is how long a killed plugin's output pipes may stay open before Wait gives up.
const waitDelay = time.Second

// processExec runs plugins as libcni's RawExec does, but each in its own process group that is
// killed as a whole when the context ends, so a timeout holds even when a plugin's children keep
// its stdout open.
type processExec struct {
	version.PluginDecoder
}

var _ invoke.Exec = (*processExec)(nil)

func newProcessExec() *processExec { return &processExec{} }

func (e *processExec) ExecPlugin(ctx context.Context, pluginPath string, stdinData []byte, environ []string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		stdout, stderr := &bytes.Buffer{}, &bytes.Buffer{}
		c := exec.CommandContext(ctx, pluginPath)
		c.Env = environ
		c.Stdin = bytes.NewReader(stdinData)
		c.Stdout, c.Stderr = stdout, stderr
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
		c.WaitDelay = waitDelay
		err := c.Run()
		if err == nil {
			return stdout.Bytes(), nil
		}
		// The plugin binary is being replaced: try again shortly, as RawExec does.
		if strings.Contains(err.Error(), "text file busy") && attempt < 5 && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("plugin %s: %w", pluginPath, cerr)
		}
		return nil, pluginErr(err, stdout.Bytes(), stderr.Bytes())
	}
}

// pluginErr returns the plugin's CNI error JSON when it wrote one, else the exit error with stderr.
func pluginErr(err error, stdout, stderr []byte) error {
	var e types.Error
	if len(stdout) > 0 && json.Unmarshal(stdout, &e) == nil && e.Code != 0 {
		return &e
	}
	if len(stderr) > 0 {
		return &types.Error{Code: types.ErrInternal, Msg: fmt.Sprintf("netplugin failed: %q", stderr), Details: err.Error()}
	}
	return &types.Error{Code: types.ErrInternal, Msg: fmt.Sprintf("netplugin failed with no error message: %v", err)}
}

func (e *processExec) FindInPath(plugin string, paths []string) (string, error) {
	p, err := invoke.FindInPath(plugin, paths)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("plugin %s at %s is not executable", plugin, p)
	}
	return p, nil
}
