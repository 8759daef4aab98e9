package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// filterFlags are the seccomp(2) flags a profile may ask for.
var filterFlags = map[specs.LinuxSeccompFlag]uintptr{
	specs.LinuxSeccompFlagLog:       unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow: unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	"SECCOMP_FILTER_FLAG_TSYNC":     unix.SECCOMP_FILTER_FLAG_TSYNC,
}

// Load compiles p and installs it on every thread of the calling process (SECCOMP_FILTER_FLAG_TSYNC:
// a Go program has several threads, and the one that later calls execve must be filtered too).
//
// The kernel accepts a filter only from a thread with no_new_privs set
// (prctl(PR_SET_NO_NEW_PRIVS, 1)) or holding CAP_SYS_ADMIN; Load sets neither, since whether the
// container gets no_new_privs is the container's setting. A container without no_new_privs
// must therefore load its filter before dropping CAP_SYS_ADMIN. The filter stays for the life of
// the process and its children: call Load last, just before execve.
func Load(p *specs.LinuxSeccomp) error {
	prog, err := Compile(p)
	if err != nil {
		return err
	}
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC)
	for _, f := range p.Flags {
		flags |= filterFlags[f]
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	switch {
	case errno == unix.EACCES:
		return fmt.Errorf("seccomp: load filter: %w (needs no_new_privs or CAP_SYS_ADMIN)", errno)
	case errno != 0:
		return fmt.Errorf("seccomp: load filter: %w", errno)
	case r != 0:
		// With TSYNC, a positive result is the id of a thread that could not be synchronised.
		return fmt.Errorf("seccomp: load filter: thread %d has a conflicting filter", r)
	}
	return nil
}
