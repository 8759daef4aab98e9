package seccomp

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// disasm prints a program one instruction a line, in the notation of the kernel's bpf_dbg
// with hexadecimal constants, so that expected programs read like the kernel would show them.
func disasm(prog []unix.SockFilter) string {
	var b strings.Builder
	for i, f := range prog {
		var s string
		switch f.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			s = fmt.Sprintf("ld [%d]", f.K)
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			s = fmt.Sprintf("and #%#x", f.K)
		case unix.BPF_JMP | unix.BPF_JA:
			s = fmt.Sprintf("ja %d", f.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			s = fmt.Sprintf("jeq #%#x jt %d jf %d", f.K, f.Jt, f.Jf)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			s = fmt.Sprintf("jge #%#x jt %d jf %d", f.K, f.Jt, f.Jf)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			s = fmt.Sprintf("jgt #%#x jt %d jf %d", f.K, f.Jt, f.Jf)
		case unix.BPF_RET | unix.BPF_K:
			s = "ret " + retName(f.K)
		default:
			s = fmt.Sprintf("code %#x jt %d jf %d k %#x", f.Code, f.Jt, f.Jf, f.K)
		}
		fmt.Fprintf(&b, "%d: %s\n", i, s)
	}
	return b.String()
}

func retName(k uint32) string {
	switch k & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW:
		return "ALLOW"
	case unix.SECCOMP_RET_ERRNO:
		return fmt.Sprintf("ERRNO(%d)", k&unix.SECCOMP_RET_DATA)
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "KILL_PROCESS"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "KILL_THREAD"
	case unix.SECCOMP_RET_TRAP:
		return "TRAP"
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("TRACE(%d)", k&unix.SECCOMP_RET_DATA)
	case unix.SECCOMP_RET_LOG:
		return "LOG"
	}
	return fmt.Sprintf("%#x", k)
}

func uptr(v uint) *uint { return &v }

func TestCompileDump(t *testing.T) {
	tests := []struct {
		name string
		arch string
		p    specs.LinuxSeccomp
		want string
	}{
		{
			// read 0, write 1, close 3 on amd64: 0-1 merge into one range, 2 is a gap.
			name: "allow list amd64",
			arch: "amd64",
			p: specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read", "write", "close", "no_such_syscall"}, Action: specs.ActAllow},
			}},
			want: `0: ld [4]
1: jeq #0xc000003e jt 1 jf 0
2: ret KILL_PROCESS
3: ld [0]
4: jge #0x3 jt 3 jf 0
5: jge #0x2 jt 1 jf 0
6: ret ALLOW
7: ret ERRNO(1)
8: jge #0x4 jt 1 jf 0
9: ret ALLOW
10: jge #0x40000000 jt 1 jf 0
11: ret ERRNO(38)
12: ret KILL_PROCESS
`,
		},
		{
			// arm64 has no x32 ABI; getpid is 172 there. The default allows, so no ENOSYS range.
			name: "deny list arm64 with errnoRet",
			arch: "arm64",
			p: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"getpid"}, Action: specs.ActErrno, ErrnoRet: uptr(95)},
			}},
			want: `0: ld [4]
1: jeq #0xc00000b7 jt 1 jf 0
2: ret KILL_PROCESS
3: ld [0]
4: jge #0xac jt 1 jf 0
5: ret ALLOW
6: jge #0xad jt 1 jf 0
7: ret ERRNO(95)
8: ret ALLOW
`,
		},
		{
			// unshare (272 on amd64) allowed only without CLONE_NEWUTS, then lseek (8) with
			// offset (arg 1) > 2^32, killed; a trailing rule giving the default action is dropped.
			name: "argument conditions amd64",
			arch: "amd64",
			p: specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"unshare"}, Action: specs.ActErrno, ErrnoRet: uptr(95), Args: []specs.LinuxSeccompArg{
					{Index: 0, Value: unix.CLONE_NEWUTS, ValueTwo: unix.CLONE_NEWUTS, Op: specs.OpMaskedEqual}}},
				{Names: []string{"lseek"}, Action: specs.ActKillProcess, Args: []specs.LinuxSeccompArg{
					{Index: 1, Value: 1 << 32, Op: specs.OpGreaterThan},
					{Index: 2, Value: 0, Op: specs.OpEqualTo}}},
				{Names: []string{"lseek"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
					{Index: 2, Value: 1, Op: specs.OpNotEqual}}},
			}},
			want: `0: ld [4]
1: jeq #0xc000003e jt 1 jf 0
2: ret KILL_PROCESS
3: ld [0]
4: jge #0x110 jt 15 jf 0
5: jge #0x8 jt 1 jf 0
6: ret ALLOW
7: jge #0x9 jt 11 jf 0
8: ld [28]
9: jgt #0x1 jt 3 jf 0
10: jeq #0x1 jt 0 jf 7
11: ld [24]
12: jgt #0x0 jt 0 jf 5
13: ld [36]
14: jeq #0x0 jt 0 jf 3
15: ld [32]
16: jeq #0x0 jt 0 jf 1
17: ret KILL_PROCESS
18: ret ALLOW
19: ret ALLOW
20: jge #0x111 jt 8 jf 0
21: ld [20]
22: and #0x0
23: jeq #0x0 jt 0 jf 4
24: ld [16]
25: and #0x4000000
26: jeq #0x4000000 jt 0 jf 1
27: ret ERRNO(95)
28: ret ALLOW
29: jge #0x40000000 jt 1 jf 0
30: ret ALLOW
31: ret KILL_PROCESS
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, err := compile(&tt.p, arches[tt.arch])
			if err != nil {
				t.Fatal(err)
			}
			if got := disasm(prog); got != tt.want {
				t.Errorf("program:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		p    *specs.LinuxSeccomp
		want string
	}{
		{"nil", nil, "seccomp: no profile"},
		{"no default", &specs.LinuxSeccomp{}, "seccomp: defaultAction: action missing"},
		{"unknown action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_MAYBE"}, `seccomp: defaultAction: unknown action "SCMP_ACT_MAYBE"`},
		{"notify", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "seccomp: defaultAction: SCMP_ACT_NOTIFY is not supported (no seccomp agent)"},
		{"errno too big", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uptr(70000)}, "seccomp: defaultAction: errnoRet 70000 does not fit in 16 bits"},
		{"errno on allow", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uptr(1)}, "seccomp: defaultAction: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"},
		{"arch", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}, `seccomp: unknown architecture "SCMP_ARCH_Z80"`},
		{"flag", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NEW_LISTENER"}}, `seccomp: unsupported flag "SECCOMP_FILTER_FLAG_NEW_LISTENER"`},
		{"no names", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}}, "seccomp: syscalls[0]: no names"},
		{"arg index", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "seccomp: syscalls[0] (read): argument index 6 out of range (0-5)"},
		{"arg op", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_ABOUT"}}}}}, `seccomp: syscalls[0] (read): unknown operator "SCMP_CMP_ABOUT"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compile(tt.p, arches["amd64"])
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// seccompData lays out struct seccomp_data for x/net/bpf's interpreter: the words sit where a
// little-endian kernel puts them (an argument's low half first), but each is big-endian, because
// the interpreter loads words in network order while the kernel loads them in native order.
func seccompData(audit, nr uint32, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], audit)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[16+8*i+4:], uint32(a>>32))
	}
	return b
}

// run executes prog in x/net/bpf's interpreter, the kernel's semantics for these instructions.
func run(t testing.TB, prog []unix.SockFilter, data []byte) uint32 {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(prog))
	for i, f := range prog {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("vm: %v", err)
	}
	r, err := vm.Run(data)
	if err != nil {
		t.Fatalf("vm run: %v", err)
	}
	return uint32(r)
}

// TestArgOperators checks every operator on values that differ in the high half only, the low
// half only, or not at all, against Go's own 64-bit comparison.
func TestArgOperators(t *testing.T) {
	const v = 0x00000005_00000010
	values := []uint64{0, 0x10, v - 1, v, v + 1, 0x00000004_ffffffff, 0x00000005_00000000,
		0x00000006_00000000, 0x00000006_00000010, 0x00000004_00000010, ^uint64(0)}
	ops := []struct {
		op  specs.LinuxSeccompOperator
		two uint64
		ref func(x uint64) bool
	}{
		{specs.OpEqualTo, 0, func(x uint64) bool { return x == v }},
		{specs.OpNotEqual, 0, func(x uint64) bool { return x != v }},
		{specs.OpGreaterThan, 0, func(x uint64) bool { return x > v }},
		{specs.OpGreaterEqual, 0, func(x uint64) bool { return x >= v }},
		{specs.OpLessThan, 0, func(x uint64) bool { return x < v }},
		{specs.OpLessEqual, 0, func(x uint64) bool { return x <= v }},
		{specs.OpMaskedEqual, 0x00000004_00000010, func(x uint64) bool { return x&v == 0x00000004_00000010 }},
	}
	a := arches["amd64"]
	for _, o := range ops {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uptr(7),
			Args: []specs.LinuxSeccompArg{{Index: 3, Value: v, ValueTwo: o.two, Op: o.op}},
		}}}
		prog, err := compile(p, a)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range values {
			got := run(t, prog, seccompData(a.audit, 0, 0, 0, 0, x)) == errnoRet(7)
			if got != o.ref(x) {
				t.Errorf("%s %#x on %#x: matched=%v, want %v", o.op, v, x, got, o.ref(x))
			}
		}
	}
}

// reference decides a syscall the slow way, by the semantics Compile documents.
func reference(p *specs.LinuxSeccomp, a *arch, nr uint32, args []uint64, maxNamed uint32) uint32 {
	def, _ := actionRet(p.DefaultAction, p.DefaultErrnoRet)
	if a.x32Bit != 0 && nr >= a.x32Bit {
		return badArchRet
	}
	var cond []condRule
	for _, sc := range p.Syscalls {
		ret, _ := actionRet(sc.Action, sc.ErrnoRet)
		for _, n := range sc.Names {
			if num, ok := a.sysnum[n]; !ok || num != nr {
				continue
			}
			if len(sc.Args) == 0 {
				return ret
			}
			cond = append(cond, condRule{args: sc.Args, ret: ret})
		}
	}
	for _, r := range cond {
		ok := true
		for _, c := range r.args {
			x := args[c.Index]
			switch c.Op {
			case specs.OpEqualTo:
				ok = ok && x == c.Value
			case specs.OpNotEqual:
				ok = ok && x != c.Value
			case specs.OpMaskedEqual:
				ok = ok && x&c.Value == c.ValueTwo
			}
		}
		if ok {
			return r.ret
		}
	}
	if nr > maxNamed && denies(def) {
		return errnoRet(unix.ENOSYS)
	}
	return def
}

// TestRuntimeDefaultEverySyscall runs the compiled RuntimeDefault on every syscall number of both
// architectures (and beyond the table), with and without CAP_SYS_ADMIN and with argument values
// that trip its conditions, and compares with a linear evaluation of the profile.
func TestRuntimeDefaultEverySyscall(t *testing.T) {
	argSets := [][]uint64{
		{0, 0, 0, 0, 0, 0},
		{unix.CLONE_NEWUTS | sigchld, 0, 0, 0, 0, 0},
		{sigchld, 0, 0, 0, 0, 0},
		{unix.AF_VSOCK, 0, 0, 0, 0, 0},
		{unix.AF_INET, 0, 0, 0, 0, 0},
		{8, 0, 0, 0, 0, 0},
		{0xffffffff, 0, 0, 0, 0, 0},
		{1 << 32, 0, 0, 0, 0, 0},
	}
	for _, goarch := range []string{"amd64", "arm64"} {
		a := arches[goarch]
		for _, caps := range [][]string{nil, {"CAP_SYS_ADMIN", "CAP_SYS_CHROOT"}} {
			p := RuntimeDefault(caps)
			prog, err := compile(p, a)
			if err != nil {
				t.Fatal(err)
			}
			var maxNamed uint32
			for _, sc := range p.Syscalls {
				for _, n := range sc.Names {
					if num, ok := a.sysnum[n]; ok && num > maxNamed {
						maxNamed = num
					}
				}
			}
			for nr := uint32(0); nr < 600; nr++ {
				for _, args := range argSets {
					got := run(t, prog, seccompData(a.audit, nr, args...))
					if want := reference(p, a, nr, args, maxNamed); got != want {
						t.Fatalf("%s caps %v nr %d args %#x: %s, want %s", goarch, caps, nr, args[0], retName(got), retName(want))
					}
				}
			}
		}
	}
}

// TestRuntimeDefaultDecisions spells out the decisions the acceptance depends on.
func TestRuntimeDefaultDecisions(t *testing.T) {
	a := arches["amd64"]
	plain, err := compile(RuntimeDefault([]string{"CHOWN", "KILL"}), a)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := compile(RuntimeDefault([]string{"SYS_ADMIN"}), a)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		prog []unix.SockFilter
		data []byte
		want string
	}{
		{"read", plain, seccompData(a.audit, 0), "ALLOW"},
		{"mount", plain, seccompData(a.audit, 165), "ERRNO(1)"},
		{"unshare", plain, seccompData(a.audit, 272, unix.CLONE_NEWUTS), "ERRNO(1)"},
		{"setns", plain, seccompData(a.audit, 308), "ERRNO(1)"},
		{"keyctl", plain, seccompData(a.audit, 250), "ERRNO(1)"},
		{"bpf", plain, seccompData(a.audit, 321), "ERRNO(1)"},
		{"kexec_load", plain, seccompData(a.audit, 246), "ERRNO(1)"},
		{"clone fork", plain, seccompData(a.audit, 56, sigchld), "ALLOW"},
		{"clone newnet", plain, seccompData(a.audit, 56, unix.CLONE_NEWNET|sigchld), "ERRNO(1)"},
		{"clone3", plain, seccompData(a.audit, 435), "ERRNO(38)"},
		{"personality linux32", plain, seccompData(a.audit, 135, 8), "ALLOW"},
		{"personality other", plain, seccompData(a.audit, 135, 0x0040000), "ERRNO(1)"},
		{"socket inet", plain, seccompData(a.audit, 41, unix.AF_INET), "ALLOW"},
		{"socket vsock", plain, seccompData(a.audit, 41, unix.AF_VSOCK), "ERRNO(1)"},
		{"fchmodat2 newer than the profile", plain, seccompData(a.audit, 452), "ERRNO(38)"},
		{"x32 abi", plain, seccompData(a.audit, 0x40000000), "KILL_PROCESS"},
		{"i386 abi", plain, seccompData(unix.AUDIT_ARCH_I386, 1), "KILL_PROCESS"},
		{"admin mount", admin, seccompData(a.audit, 165), "ALLOW"},
		{"admin clone newnet", admin, seccompData(a.audit, 56, unix.CLONE_NEWNET), "ALLOW"},
		{"admin clone3", admin, seccompData(a.audit, 435), "ALLOW"},
		{"admin chroot needs SYS_CHROOT", admin, seccompData(a.audit, 161), "ERRNO(1)"},
	}
	for _, tt := range tests {
		if got := retName(run(t, tt.prog, tt.data)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// BenchmarkRuntimeDefault measures compiling the profile and reports the program's size and the
// longest path through it (what every syscall of a container pays at most).
func BenchmarkRuntimeDefault(b *testing.B) {
	a := arches["amd64"]
	p := RuntimeDefault(nil)
	var prog []unix.SockFilter
	for b.Loop() {
		var err error
		if prog, err = compile(p, a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(prog)), "insns")
	b.ReportMetric(float64(longestPath(prog, 0)), "max-path")
}

// longestPath is the most instructions any run from pc executes (programs are DAGs).
func longestPath(prog []unix.SockFilter, pc int) int {
	memo := make([]int, len(prog)+1)
	for i := len(prog) - 1; i >= pc; i-- {
		f := prog[i]
		switch {
		case f.Code&0x07 == unix.BPF_RET:
			memo[i] = 1
		case f.Code == unix.BPF_JMP|unix.BPF_JA:
			memo[i] = 1 + memo[i+1+int(f.K)]
		case f.Code&0x07 == unix.BPF_JMP:
			memo[i] = 1 + max(memo[i+1+int(f.Jt)], memo[i+1+int(f.Jf)])
		default:
			memo[i] = 1 + memo[i+1]
		}
	}
	return memo[pc]
}

const sigchld = 17 // clone's exit signal; unix.SIGCHLD is a typed syscall.Signal
