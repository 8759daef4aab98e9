// Package seccomp owns podnet's seccomp filters, in pure Go (no libseccomp, no cgo): the
// RuntimeDefault profile (Docker's default profile, conditioned on the container's capabilities),
// the compiler from an OCI runtime-spec LinuxSeccomp to a classic BPF program for the running
// architecture (amd64 or arm64), and Load, which installs it in the calling process.
//
// The executor (`podnet init`) calls Load last, after no_new_privs and just before execve;
// runtime/oci puts RuntimeDefault into config.json so that runc, which compiles the same profile
// with libseccomp, enforces the same rules.
//
// The syscall tables in zsysnum.go come from golang.org/x/sys/unix by internal/mksysnum.
package seccomp

//go:generate go run ./internal/mksysnum
