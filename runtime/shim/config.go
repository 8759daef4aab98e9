package shim

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/podnet/podnet/runtime/shim/proc"
	"github.com/podnet/podnet/runtime/shim/wire"
)

// Defaults as kubelet applies them to container logs (containerLogMaxSize, containerLogMaxFiles).
const (
	DefaultLogMaxBytes = proc.DefaultLogMaxBytes
	DefaultLogMaxFiles = proc.DefaultLogMaxFiles
)

// Config is one shim: what the daemon passes to Start and what the shim parses from its flags.
type Config struct {
	Binary       string // the podnet-shim executable (Start only)
	ID           string
	StateDir     string
	LogPath      string
	LogMaxBytes  int64
	LogMaxFiles  int
	TTY          bool
	Stdin        bool
	StdinOnce    bool
	CloneNS      bool   // start ARGV with CLONE_NEWPID|CLONE_NEWNS
	MemoryCgroup string // the container's memory cgroup directory, to tell OOM kills
	// Env is ARGV's whole environment when non-empty; when empty ARGV inherits the shim's, which
	// is the daemon's.
	Env  []string
	Argv []string
}

func (c *Config) setDefaults() {
	if c.LogMaxBytes == 0 {
		c.LogMaxBytes = DefaultLogMaxBytes
	}
	if c.LogMaxFiles == 0 {
		c.LogMaxFiles = DefaultLogMaxFiles
	}
}

// validate checks everything in one pass so that the caller sees every problem at once. Paths
// must be absolute because the detached shim runs in /.
func (c *Config) validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	for _, p := range []struct{ name, v string }{{"state dir", c.StateDir}, {"log path", c.LogPath}} {
		if p.v == "" || !filepath.IsAbs(p.v) {
			errs = append(errs, fmt.Errorf("%s %q is not an absolute path", p.name, p.v))
		}
	}
	if c.MemoryCgroup != "" && !filepath.IsAbs(c.MemoryCgroup) {
		errs = append(errs, fmt.Errorf("memory cgroup %q is not an absolute path", c.MemoryCgroup))
	}
	// The socket path must fit sockaddr_un.sun_path (108 bytes with its NUL).
	if n := len(filepath.Join(c.StateDir, wire.SockFile)); n >= 108 {
		errs = append(errs, fmt.Errorf("state dir %q is too long for a unix socket path (%d bytes)", c.StateDir, n))
	}
	if c.LogMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("log max bytes %d is negative", c.LogMaxBytes))
	}
	if c.LogMaxFiles < 1 {
		errs = append(errs, fmt.Errorf("log max files %d is below 1", c.LogMaxFiles))
	}
	if c.StdinOnce && !c.Stdin {
		errs = append(errs, errors.New("stdin-once needs stdin"))
	}
	for _, e := range c.Env {
		if !strings.Contains(e, "=") {
			errs = append(errs, fmt.Errorf("env %q is not KEY=VALUE", e))
		}
	}
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		errs = append(errs, errors.New("argv is empty"))
	}
	return errors.Join(errs...)
}

// Args is the shim's command line for c (without the binary), as proc.Parse reads it.
func (c *Config) Args() []string {
	a := []string{
		"--id", c.ID, "--state-dir", c.StateDir, "--log", c.LogPath,
		"--log-max-bytes", strconv.FormatInt(c.LogMaxBytes, 10),
		"--log-max-files", strconv.Itoa(c.LogMaxFiles),
	}
	for _, b := range []struct {
		name string
		on   bool
	}{{"--tty", c.TTY}, {"--stdin", c.Stdin}, {"--stdin-once", c.StdinOnce}, {"--clone-ns", c.CloneNS}} {
		if b.on {
			a = append(a, b.name)
		}
	}
	if c.MemoryCgroup != "" {
		a = append(a, "--memory-cgroup", c.MemoryCgroup)
	}
	for _, e := range c.Env {
		a = append(a, "--env", e)
	}
	a = append(a, "--")
	return append(a, c.Argv...)
}
