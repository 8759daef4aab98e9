package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// minKubectlMinor is the oldest kubectl minor the suite trusts: older clients (Debian ships 1.20)
// lack aggregated discovery and server-side field validation.
const minKubectlMinor = 30

// requireRoot skips the test when not root, or fails it when make test runs the suite, where a
// silently skipped suite would pass for the wrong reason.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("PODNET_INTEGRATION") == "1" {
		t.Fatal("integration tests need root (PODNET_INTEGRATION=1 forbids skipping)")
	}
	t.Skip("integration tests need root; run them as root or through make test")
}

func requireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("%s missing: run hack/deps.sh", name)
		}
	}
}

// repoRoot walks up from the working directory (the test's package directory) to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// podnetBinary resolves the daemon binary: Options.Binary, PODNET_BIN, then <root>/bin/podnet.
func podnetBinary(t testing.TB, override string) string {
	t.Helper()
	bin := override
	if bin == "" {
		bin = os.Getenv("PODNET_BIN")
	}
	if bin == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(root, "bin", "podnet")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("bin/podnet missing: run make build")
	}
	// nsenter resolves a relative path against the package directory go test runs in; make it
	// explicit so logs show what ran.
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

var kubectlOnce struct {
	sync.Once
	path string
	err  error
}

// systemKubectl resolves the kubectl tests drive the node with, once per test binary.
func systemKubectl() (string, error) {
	kubectlOnce.Do(func() {
		kubectlOnce.path, kubectlOnce.err = findKubectl()
	})
	return kubectlOnce.path, kubectlOnce.err
}

func findKubectl() (string, error) {
	if p := os.Getenv("KUBECTL"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("kubectl"); err == nil && kubectlMinor(p) >= minKubectlMinor {
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", "kubectl")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no kubectl >= 1.%d on PATH and no bin/kubectl: run hack/deps.sh", minKubectlMinor)
	}
	return p, nil
}

var kubectlVersionRE = regexp.MustCompile(`^v1\.(\d+)\.`)

// kubectlMinor returns the client's 1.x minor version, or -1 when it cannot tell.
func kubectlMinor(path string) int {
	out, err := exec.Command(path, "version", "--client", "-o", "json").Output()
	if err != nil {
		return -1
	}
	var v struct {
		ClientVersion struct {
			GitVersion string `json:"gitVersion"`
		} `json:"clientVersion"`
	}
	if json.Unmarshal(out, &v) != nil {
		return -1
	}
	m := kubectlVersionRE.FindStringSubmatch(v.ClientVersion.GitVersion)
	if m == nil {
		return -1
	}
	minor, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return minor
}

// execPath resolves a tool to an absolute path, so the daemon's argv[0] is unambiguous in logs.
func execPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s missing: run hack/deps.sh: %w", name, err)
	}
	return p, nil
}
