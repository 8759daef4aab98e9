package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/podnet/podnet/runtime/shim/wire"
)

// ExitStatus is exit.json: how the container's process ended, as kubelet reports it.
type ExitStatus = wire.ExitStatus

// Size is a terminal size in characters.
type Size = wire.Size

func readPid(dir, name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("read %s: bad pid %q", name, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// readExit returns the exit status in dir, or an error wrapping os.ErrNotExist when there is none.
func readExit(dir string) (*ExitStatus, error) {
	b, err := os.ReadFile(filepath.Join(dir, wire.ExitFile))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", wire.ExitFile, err)
	}
	var st ExitStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Join(dir, wire.ExitFile), err)
	}
	return &st, nil
}
