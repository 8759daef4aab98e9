package seccomp

import (
	"errors"
	"fmt"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets into struct seccomp_data; args are 64-bit little-endian (both supported arches are LE).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16

	maxInsns = 4096 // BPF_MAXINSNS: the kernel refuses longer programs
	maxArgs  = 6
)

// badArchRet is what a syscall from another ABI (i386 or x32 compat on amd64, arm32 on arm64) gets:
// the program only knows the native numbering, and allowing a foreign number would let a
// container reach whatever syscall shares it. libseccomp kills by default too.
const badArchRet = unix.SECCOMP_RET_KILL_PROCESS

// Compile turns p into a classic BPF program for the running architecture.
//
// Semantics follow libseccomp as runc drives it: syscall names unknown on this architecture are
// skipped; a syscall's unconditional rule (no args) decides it; otherwise its conditional rules are
// tried in profile order, the first whose conditions all hold decides, and the default action
// applies if none does. Syscall numbers above the highest one the profile names get ENOSYS when
// the default action denies, as runc does, so that libc falls back from syscalls newer than the
// profile (fchmodat2, …) instead of failing with EPERM. Only the native ABI is filtered;
// others are killed (see badArchRet).
//
// The program checks seccomp_data.arch, loads the syscall number, then finds its action by a
// binary search over number ranges, so that the ~350 names of RuntimeDefault cost about 10
// comparisons rather than hundreds.
func Compile(p *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	a, err := nativeArch()
	if err != nil {
		return nil, err
	}
	return compile(p, a)
}

// leaf is the decision for one range of syscall numbers.
type leaf struct {
	ret   uint32 // the action when rules is empty; else the action when no rule matches
	rules []condRule
}

type condRule struct {
	args []specs.LinuxSeccompArg
	ret  uint32
}

func (l *leaf) plain() bool { return len(l.rules) == 0 }

type interval struct {
	start uint32 // runs to the next interval's start - 1, the last one to 2^32-1
	leaf  *leaf
}

func compile(p *specs.LinuxSeccomp, a *arch) ([]unix.SockFilter, error) {
	if p == nil {
		return nil, errors.New("seccomp: no profile")
	}
	defRet, err := actionRet(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: defaultAction: %w", err)
	}
	for _, ar := range p.Architectures {
		if !knownArch(ar) {
			return nil, fmt.Errorf("seccomp: unknown architecture %q", ar)
		}
	}
	for _, f := range p.Flags {
		if _, ok := filterFlags[f]; !ok {
			return nil, fmt.Errorf("seccomp: unsupported flag %q", f)
		}
	}

	type entry struct {
		uncond *uint32
		rules  []condRule
	}
	entries := map[uint32]*entry{}
	named := false
	for i, sc := range p.Syscalls {
		ret, err := actionRet(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("seccomp: syscalls[%d]: %w", i, err)
		}
		if len(sc.Names) == 0 {
			return nil, fmt.Errorf("seccomp: syscalls[%d]: no names", i)
		}
		if err := checkArgs(sc.Args); err != nil {
			return nil, fmt.Errorf("seccomp: syscalls[%d] (%s): %w", i, sc.Names[0], err)
		}
		for _, name := range sc.Names {
			nr, ok := a.sysnum[name]
			if !ok {
				continue // as libseccomp: a name this architecture lacks is not an error
			}
			named = true
			e := entries[nr]
			if e == nil {
				e = &entry{}
				entries[nr] = e
			}
			if len(sc.Args) == 0 {
				if e.uncond == nil {
					r := ret
					e.uncond = &r
				}
				continue
			}
			e.rules = append(e.rules, condRule{args: sc.Args, ret: ret})
		}
	}

	defLeaf := &leaf{ret: defRet}
	plainLeaves := map[uint32]*leaf{defRet: defLeaf}
	plainLeaf := func(ret uint32) *leaf {
		if l, ok := plainLeaves[ret]; ok {
			return l
		}
		l := &leaf{ret: ret}
		plainLeaves[ret] = l
		return l
	}
	nrs := make([]uint32, 0, len(entries))
	for nr := range entries {
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })

	var ivs []interval
	add := func(start uint32, l *leaf) {
		// Merging neighbours with the same plain action is what keeps the search short.
		if n := len(ivs); n > 0 && ivs[n-1].leaf == l && l.plain() {
			return
		}
		ivs = append(ivs, interval{start: start, leaf: l})
	}
	var next uint32 // the lowest number no interval covers yet; syscall numbers are far from 2^32
	for _, nr := range nrs {
		if nr > next {
			add(next, defLeaf)
		}
		e := entries[nr]
		l := defLeaf
		switch {
		case e.uncond != nil:
			l = plainLeaf(*e.uncond)
		default:
			rules := e.rules
			for len(rules) > 0 && rules[len(rules)-1].ret == defRet {
				rules = rules[:len(rules)-1] // a trailing rule that gives the default changes nothing
			}
			if len(rules) > 0 {
				l = &leaf{ret: defRet, rules: rules}
			}
		}
		add(nr, l)
		next = nr + 1
	}
	if named && denies(defRet) && (a.x32Bit == 0 || next < a.x32Bit) {
		add(next, plainLeaf(errnoRet(unix.ENOSYS)))
	} else {
		add(next, defLeaf)
	}
	if a.x32Bit != 0 {
		add(a.x32Bit, plainLeaf(badArchRet))
	}

	body, err := emitTree(ivs)
	if err != nil {
		return nil, err
	}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: a.audit, SkipTrue: 1},
		bpf.RetConstant{Val: badArchRet},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
	}
	prog = append(prog, body...)
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("seccomp: program has %d instructions, the kernel takes at most %d", len(prog), maxInsns)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// denies reports whether ret refuses the syscall (the ENOSYS stub must not make an allowing or
// logging default stricter).
func denies(ret uint32) bool {
	act := ret & unix.SECCOMP_RET_ACTION_FULL
	return act != unix.SECCOMP_RET_ALLOW && act != unix.SECCOMP_RET_LOG
}

// emitTree emits a binary search over ivs (sorted, the syscall number in A). It is laid out in
// pre-order so that every jump goes forward, as classic BPF requires.
func emitTree(ivs []interval) ([]bpf.Instruction, error) {
	if len(ivs) == 1 {
		return emitLeaf(ivs[0].leaf)
	}
	mid := len(ivs) / 2
	left, err := emitTree(ivs[:mid])
	if err != nil {
		return nil, err
	}
	right, err := emitTree(ivs[mid:])
	if err != nil {
		return nil, err
	}
	var out []bpf.Instruction
	if len(left) <= 255 {
		out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: ivs[mid].start, SkipTrue: uint8(len(left))})
	} else {
		// Conditional jumps reach 255 instructions at most; an unconditional one reaches anywhere.
		out = append(out,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: ivs[mid].start, SkipFalse: 1},
			bpf.Jump{Skip: uint32(len(left))})
	}
	out = append(out, left...)
	return append(out, right...), nil
}

// emitLeaf returns the leaf's action, after its conditional rules if it has any. It ends in a
// return, so it never needs the syscall number again.
func emitLeaf(l *leaf) ([]bpf.Instruction, error) {
	var out []bpf.Instruction
	for _, r := range l.rules {
		code, err := emitRule(r)
		if err != nil {
			return nil, err
		}
		out = append(out, code...)
	}
	return append(out, bpf.RetConstant{Val: l.ret}), nil
}

// emitRule returns the checks of r's conditions followed by its action; a failing check jumps
// just past that action, to the next rule. The number in A is clobbered by argument loads,
// which is fine since a leaf never looks at it again.
func emitRule(r condRule) ([]bpf.Instruction, error) {
	blocks := make([][]bpf.Instruction, len(r.args))
	toFail := 1 // the rule's own return lies between its last check and the next rule
	for i := len(r.args) - 1; i >= 0; i-- {
		b, err := emitArg(r.args[i], toFail)
		if err != nil {
			return nil, err
		}
		blocks[i] = b
		toFail += len(b)
	}
	var out []bpf.Instruction
	for _, b := range blocks {
		out = append(out, b...)
	}
	return append(out, bpf.RetConstant{Val: r.ret}), nil
}

// argLen is the length of emitArg's block for each operator.
var argLen = map[specs.LinuxSeccompOperator]int{
	specs.OpEqualTo: 4, specs.OpNotEqual: 4, specs.OpMaskedEqual: 6,
	specs.OpGreaterThan: 5, specs.OpGreaterEqual: 5, specs.OpLessThan: 5, specs.OpLessEqual: 5,
}

// emitArg compares one 64-bit argument, as two 32-bit halves, high half first. Control leaves the
// block at its end when the condition holds, and skips toFail instructions past its end when not.
func emitArg(c specs.LinuxSeccompArg, toFail int) ([]bpf.Instruction, error) {
	n := argLen[c.Op]
	// pass and fail give the skip from instruction i to the block's end or to the failure point.
	pass := func(i int) int { return n - 1 - i }
	fail := func(i int) int { return n - 1 - i + toFail }
	if fail(0) > 255 {
		return nil, fmt.Errorf("seccomp: rule with too many conditions")
	}
	s := func(v int) uint8 { return uint8(v) }
	lo := bpf.LoadAbsolute{Off: uint32(offArgs + 8*c.Index), Size: 4}
	hi := bpf.LoadAbsolute{Off: uint32(offArgs + 8*c.Index + 4), Size: 4}
	vh, vl := uint32(c.Value>>32), uint32(c.Value)
	ge, gt, eq := bpf.JumpGreaterOrEqual, bpf.JumpGreaterThan, bpf.JumpEqual
	switch c.Op {
	case specs.OpEqualTo:
		return []bpf.Instruction{
			hi, bpf.JumpIf{Cond: eq, Val: vh, SkipFalse: s(fail(1))},
			lo, bpf.JumpIf{Cond: eq, Val: vl, SkipFalse: s(fail(3))},
		}, nil
	case specs.OpNotEqual:
		return []bpf.Instruction{
			hi, bpf.JumpIf{Cond: eq, Val: vh, SkipFalse: s(pass(1))},
			lo, bpf.JumpIf{Cond: eq, Val: vl, SkipTrue: s(fail(3))},
		}, nil
	case specs.OpMaskedEqual:
		mh, ml := uint32(c.Value>>32), uint32(c.Value)
		wh, wl := uint32(c.ValueTwo>>32), uint32(c.ValueTwo)
		return []bpf.Instruction{
			hi, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mh}, bpf.JumpIf{Cond: eq, Val: wh, SkipFalse: s(fail(2))},
			lo, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: ml}, bpf.JumpIf{Cond: eq, Val: wl, SkipFalse: s(fail(5))},
		}, nil
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		last := gt
		if c.Op == specs.OpGreaterEqual {
			last = ge
		}
		return []bpf.Instruction{
			hi,
			bpf.JumpIf{Cond: gt, Val: vh, SkipTrue: s(pass(1))},
			bpf.JumpIf{Cond: eq, Val: vh, SkipFalse: s(fail(2))},
			lo,
			bpf.JumpIf{Cond: last, Val: vl, SkipFalse: s(fail(4))},
		}, nil
	case specs.OpLessThan, specs.OpLessEqual:
		last := ge // arg < v fails when low >= v
		if c.Op == specs.OpLessEqual {
			last = gt
		}
		return []bpf.Instruction{
			hi,
			bpf.JumpIf{Cond: gt, Val: vh, SkipTrue: s(fail(1))},
			bpf.JumpIf{Cond: eq, Val: vh, SkipFalse: s(pass(2))},
			lo,
			bpf.JumpIf{Cond: last, Val: vl, SkipTrue: s(fail(4))},
		}, nil
	}
	return nil, fmt.Errorf("seccomp: unknown operator %q", c.Op)
}

func checkArgs(args []specs.LinuxSeccompArg) error {
	for _, c := range args {
		if c.Index >= maxArgs {
			return fmt.Errorf("argument index %d out of range (0-%d)", c.Index, maxArgs-1)
		}
		if _, ok := argLen[c.Op]; !ok {
			return fmt.Errorf("unknown operator %q", c.Op)
		}
	}
	return nil
}

func errnoRet(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA }

// actionRet maps an OCI action to the filter's return value. ERRNO and TRACE carry errnoRet,
// EPERM when unset, as runc does.
func actionRet(act specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errno != nil {
		if *errno > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("errnoRet %d does not fit in 16 bits", *errno)
		}
		data = uint32(*errno)
	}
	if errno != nil && act != specs.ActErrno && act != specs.ActTrace {
		return 0, fmt.Errorf("errnoRet is only valid with %s or %s, not %s", specs.ActErrno, specs.ActTrace, act)
	}
	switch act {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("%s is not supported (no seccomp agent)", act)
	case "":
		return 0, errors.New("action missing")
	}
	return 0, fmt.Errorf("unknown action %q", act)
}
