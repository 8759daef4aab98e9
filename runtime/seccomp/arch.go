package seccomp

import (
	"fmt"
	"runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// arch is what the compiler needs to know about one architecture.
type arch struct {
	goarch  string
	scmp    specs.Arch // the name profiles use
	audit   uint32     // seccomp_data.arch
	sysnum  map[string]uint32
	x32Bit  uint32 // syscall numbers with this bit set belong to another ABI (x32); 0 if none
	compats []specs.Arch
}

var arches = map[string]*arch{
	"amd64": {
		goarch: "amd64", scmp: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64,
		sysnum: sysnumAMD64, x32Bit: 0x40000000,
		compats: []specs.Arch{specs.ArchX86, specs.ArchX32},
	},
	"arm64": {
		goarch: "arm64", scmp: specs.ArchAARCH64, audit: unix.AUDIT_ARCH_AARCH64,
		sysnum:  sysnumARM64,
		compats: []specs.Arch{specs.ArchARM},
	},
}

// nativeArch is the architecture of the running binary.
func nativeArch() (*arch, error) {
	a, ok := arches[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("seccomp: architecture %s is not supported (amd64 and arm64 are)", runtime.GOARCH)
	}
	return a, nil
}

// knownArch reports whether a profile may name n (any arch libseccomp knows).
func knownArch(n specs.Arch) bool {
	switch n {
	case specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64,
		specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390,
		specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64,
		specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB:
		return true
	}
	return false
}
