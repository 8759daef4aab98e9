//go:build podnet_kubectl_image

package main

import (
	_ "embed"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// kubectlImage is the real kubectl (hack/kubectl: k8s.io/kubectl/pkg/cmd run as upstream's main
// runs it), built by `make build` just before podnet. It is embedded as an executable rather than
// linked in because Go runs every linked package's initialiser at start: linked, kubectl's would
// run in every `podnet serve` too, and keep about 40 MB of the daemon resident for nothing.
//
//go:embed kubectl.image
var kubectlImage []byte

// execKubectl replaces this process with the embedded kubectl, run from an anonymous in-memory
// file: nothing is written to disk, and exit code, signals and terminal are kubectl's own.
func execKubectl(args []string) int {
	fd, err := unix.MemfdCreate("kubectl", unix.MFD_CLOEXEC)
	if err != nil {
		return fail(fmt.Errorf("memfd_create: %w", err))
	}
	f := os.NewFile(uintptr(fd), "kubectl")
	if _, err := f.Write(kubectlImage); err != nil {
		return fail(fmt.Errorf("write kubectl image: %w", err))
	}
	// execve through /proc/self/fd works with a close-on-exec descriptor: the kernel opens the
	// file before it closes the descriptors (fexecve(3)).
	err = unix.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), append([]string{"kubectl"}, args...), os.Environ())
	runtime.KeepAlive(f) // f's finalizer would close the descriptor before the exec
	return fail(fmt.Errorf("exec kubectl: %w", err))
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "podnet kubectl:", err)
	return 1
}
