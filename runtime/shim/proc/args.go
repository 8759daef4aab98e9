package proc

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
)

// Defaults as kubelet applies them to container logs (containerLogMaxSize, containerLogMaxFiles).
const (
	DefaultLogMaxBytes = 10 << 20
	DefaultLogMaxFiles = 5
)

// Options are the shim's flags; package shim's Config.Args writes them.
type Options struct {
	ID           string
	StateDir     string
	LogPath      string
	LogMaxBytes  int64
	LogMaxFiles  int
	TTY          bool
	Stdin        bool
	StdinOnce    bool
	CloneNS      bool
	MemoryCgroup string
	Env          []string // ARGV's whole environment; empty: inherit the shim's
	Argv         []string
	Detached     bool // internal: this is the detached stage
}

const usage = "usage: podnet-shim --id ID --state-dir DIR --log PATH [--log-max-bytes N] [--log-max-files N]" +
	" [--tty] [--stdin] [--stdin-once] [--clone-ns] [--memory-cgroup DIR] [--env K=V]... -- ARGV..."

// Parse reads the shim's command line: `--flag value`, `--flag=value` or a bare boolean flag,
// then `--` and the command.
func Parse(args []string) (Options, error) {
	o := Options{LogMaxBytes: DefaultLogMaxBytes, LogMaxFiles: DefaultLogMaxFiles}
	var errs []error
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		if a == "--" {
			o.Argv = args
			break
		}
		if !strings.HasPrefix(a, "-") {
			o.Argv = append([]string{a}, args...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		boolFlag := func(p *bool) {
			if !hasVal {
				*p = true
				return
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				errs = append(errs, errors.New("flag --"+name+": "+err.Error()))
			}
			*p = b
		}
		value := func() string {
			if hasVal {
				return val
			}
			if len(args) == 0 {
				errs = append(errs, errors.New("flag --"+name+" needs a value"))
				return ""
			}
			v := args[0]
			args = args[1:]
			return v
		}
		switch name {
		case "id":
			o.ID = value()
		case "state-dir":
			o.StateDir = value()
		case "log":
			o.LogPath = value()
		case "log-max-bytes":
			n, err := strconv.ParseInt(value(), 10, 64)
			if err != nil {
				errs = append(errs, errors.New("flag --log-max-bytes: "+err.Error()))
			}
			o.LogMaxBytes = n
		case "log-max-files":
			n, err := strconv.Atoi(value())
			if err != nil {
				errs = append(errs, errors.New("flag --log-max-files: "+err.Error()))
			}
			o.LogMaxFiles = n
		case "tty":
			boolFlag(&o.TTY)
		case "stdin":
			boolFlag(&o.Stdin)
		case "stdin-once":
			boolFlag(&o.StdinOnce)
		case "clone-ns":
			boolFlag(&o.CloneNS)
		case "detached":
			boolFlag(&o.Detached)
		case "memory-cgroup":
			o.MemoryCgroup = value()
		case "env":
			o.Env = append(o.Env, value())
		default:
			errs = append(errs, errors.New("unknown flag "+a))
		}
	}
	errs = append(errs, o.validate()...)
	if len(errs) > 0 {
		return Options{}, errors.Join(append(errs, errors.New(usage))...)
	}
	return o, nil
}

// validate checks what the shim itself relies on; package shim validates the same before it
// runs a shim, with friendlier messages.
func (o *Options) validate() []error {
	var errs []error
	if o.ID == "" {
		errs = append(errs, errors.New("--id is required"))
	}
	if !filepath.IsAbs(o.StateDir) {
		errs = append(errs, errors.New("--state-dir must be an absolute path"))
	}
	if !filepath.IsAbs(o.LogPath) {
		errs = append(errs, errors.New("--log must be an absolute path"))
	}
	if o.LogMaxBytes <= 0 || o.LogMaxFiles < 1 {
		errs = append(errs, errors.New("--log-max-bytes and --log-max-files must be positive"))
	}
	if len(o.Argv) == 0 {
		errs = append(errs, errors.New("no command after --"))
	}
	return errs
}
