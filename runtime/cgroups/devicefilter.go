package cgroups

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The device allow-list on cgroup v2.
//
// cgroup v2 has no devices controller: access to device nodes is decided by BPF programs of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup, which the kernel runs on every mknod and
// every open of a block or character device by a task in it (and in its descendants); the access
// is refused unless every program on the way up returns 1. See the "Device controller" section
// of Documentation/admin-guide/cgroup-v2.rst,
// https://docs.kernel.org/admin-guide/cgroup-v2.html#device-controller, and struct
// bpf_cgroup_dev_ctx in include/uapi/linux/bpf.h.
//
// The program is generated from the same rule list the v1 path writes to devices.allow and
// devices.deny (the spec's rules, then defaultDevices), with the meaning that list has for a v1
// cgroup written "deny a" first: nothing is allowed unless a rule says so, and a later rule
// overrides an earlier one. The override works per access bit, as the v1 kernel's exception list
// does: "allow c 1:3 r" then "allow c 1:3 w" allows an open for reading and writing, and
// "deny c 1:3 w" after "allow c 1:3 rw" still lets a read-only open through. A rule of type "a"
// stands for every device and every access, whatever its numbers and access say, as in v1.
// Where v1 is looser the program is stricter: there a deny only takes bits off an exception
// written with the very same type and numbers ("deny c *:* r" leaves "allow c 1:3 r" alone);
// here it refuses whatever it matches.
//
// The program walks the rules from the last to the first with the still undecided access bits
// in a register: a matching allow rule clears its bits and the access is allowed once none are
// left; a matching deny rule that covers any undecided bit refuses it; when the walk runs out of
// rules, what is left is refused.

// insn is one eBPF instruction (struct bpf_insn in include/uapi/linux/bpf.h).
type insn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int32
}

// Opcodes the device program uses: 32-bit ALU operations (the context's fields are u32), 64-bit
// jumps (a 32-bit load zero-extends, and device numbers are far below 2^31, so the
// sign-extended immediate compares the same; BPF_JMP32 would need kernel 5.1).
const (
	opLdxW    = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W
	opMov32   = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K
	opMov32X  = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X
	opAnd32   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opRsh32   = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K
	opJeq     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJne     = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
	opExit    = unix.BPF_JMP | unix.BPF_EXIT
	allAccess = unix.BPF_DEVCG_ACC_MKNOD | unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE
)

// Registers. R1 holds the context on entry and is free once its fields are loaded.
const (
	r0 = iota // return value
	r1        // context, then scratch
	r2        // device type (BPF_DEVCG_DEV_*)
	r3        // access bits (BPF_DEVCG_ACC_*) not decided yet
	r4        // major
	r5        // minor
)

// DeviceProgram is a generated device filter, ready for BPF_PROG_LOAD.
type DeviceProgram struct {
	insns []insn
}

// Len is the number of instructions.
func (p *DeviceProgram) Len() int { return len(p.insns) }

// bytes encodes the program as the kernel reads it: 8 bytes per instruction, registers packed
// dst in the low nibble, in host byte order.
func (p *DeviceProgram) bytes() []byte {
	out := make([]byte, 0, 8*len(p.insns))
	for _, in := range p.insns {
		out = append(out, in.op, in.dst&0xf|in.src<<4)
		out = binary.NativeEndian.AppendUint16(out, uint16(in.off))
		out = binary.NativeEndian.AppendUint32(out, uint32(in.imm))
	}
	return out
}

// String lists the program one instruction a line, in the spirit of bpftool's dump, so that a
// test can compare it with a literal listing.
func (p *DeviceProgram) String() string {
	var b strings.Builder
	for i, in := range p.insns {
		fmt.Fprintf(&b, "%d: ", i)
		switch in.op {
		case opLdxW:
			fmt.Fprintf(&b, "r%d = *(u32 *)(r%d + %d)", in.dst, in.src, in.off)
		case opMov32:
			fmt.Fprintf(&b, "w%d = %d", in.dst, in.imm)
		case opMov32X:
			fmt.Fprintf(&b, "w%d = w%d", in.dst, in.src)
		case opAnd32:
			fmt.Fprintf(&b, "w%d &= %#x", in.dst, uint32(in.imm))
		case opRsh32:
			fmt.Fprintf(&b, "w%d >>= %d", in.dst, in.imm)
		case opJeq:
			fmt.Fprintf(&b, "if r%d == %d goto %d", in.dst, in.imm, i+1+int(in.off))
		case opJne:
			fmt.Fprintf(&b, "if r%d != %d goto %d", in.dst, in.imm, i+1+int(in.off))
		case opExit:
			b.WriteString("exit")
		default:
			fmt.Fprintf(&b, "op %#x dst %d src %d off %d imm %d", in.op, in.dst, in.src, in.off, in.imm)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// deviceMatch is one rule of the list in the form the program tests it.
type deviceMatch struct {
	allow  bool
	all    bool  // type "a": every device, every access
	typ    int32 // BPF_DEVCG_DEV_*
	major  int32 // -1: any
	minor  int32 // -1: any
	access int32 // BPF_DEVCG_ACC_* bits
}

func parseDeviceRule(d specs.LinuxDeviceCgroup) (deviceMatch, error) {
	m := deviceMatch{allow: d.Allow, major: -1, minor: -1}
	switch d.Type {
	case "", "a":
		m.all = true
		return m, nil
	case "c":
		m.typ = unix.BPF_DEVCG_DEV_CHAR
	case "b":
		m.typ = unix.BPF_DEVCG_DEV_BLOCK
	default:
		return m, fmt.Errorf("device type %q is not a, b or c", d.Type)
	}
	num := func(what string, p *int64) (int32, error) {
		if p == nil || *p < 0 {
			return -1, nil
		}
		// Linux device numbers have 12 major and 20 minor bits; anything past int32 is a typo
		// that the program's sign-extended comparison could not express anyway.
		if *p > math.MaxInt32 {
			return 0, fmt.Errorf("device %s %d is out of range", what, *p)
		}
		return int32(*p), nil
	}
	var err error
	if m.major, err = num("major", d.Major); err != nil {
		return m, err
	}
	if m.minor, err = num("minor", d.Minor); err != nil {
		return m, err
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	for _, c := range access {
		switch c {
		case 'r':
			m.access |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			m.access |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			m.access |= unix.BPF_DEVCG_ACC_MKNOD
		default:
			return m, fmt.Errorf("device access %q has %q, not one of r, w, m", d.Access, c)
		}
	}
	return m, nil
}

// newDeviceProgram generates the filter for rules (the complete list, defaults included).
func newDeviceProgram(rules []specs.LinuxDeviceCgroup) (*DeviceProgram, error) {
	ms := make([]deviceMatch, len(rules))
	for i, d := range rules {
		m, err := parseDeviceRule(d)
		if err != nil {
			return nil, fmt.Errorf("cgroups: device rule %d: %w", i, err)
		}
		ms[i] = m
	}
	p := &DeviceProgram{insns: []insn{
		// access_type is (access << 16) | type.
		{op: opLdxW, dst: r2, src: r1, off: 0},
		{op: opAnd32, dst: r2, imm: 0xffff},
		{op: opLdxW, dst: r3, src: r1, off: 0},
		{op: opRsh32, dst: r3, imm: 16},
		{op: opLdxW, dst: r4, src: r1, off: 4},
		{op: opLdxW, dst: r5, src: r1, off: 8},
	}}
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.all {
			// Every undecided bit gets this rule's verdict, and no earlier rule can matter.
			p.ret(m.allow)
			return p, nil
		}
		p.rule(m)
	}
	p.ret(false)
	return p, nil
}

// ret appends "return verdict".
func (p *DeviceProgram) ret(allow bool) {
	v := int32(0)
	if allow {
		v = 1
	}
	p.insns = append(p.insns, insn{op: opMov32, dst: r0, imm: v}, insn{op: opExit})
}

// rule appends one rule's test; its jumps to "next" skip to the instruction after it.
func (p *DeviceProgram) rule(m deviceMatch) {
	var skips []int // jumps whose target is the next rule
	jne := func(reg uint8, v int32) {
		skips = append(skips, len(p.insns))
		p.insns = append(p.insns, insn{op: opJne, dst: reg, imm: v})
	}
	jne(r2, m.typ)
	if m.major >= 0 {
		jne(r4, m.major)
	}
	if m.minor >= 0 {
		jne(r5, m.minor)
	}
	switch {
	case m.allow && m.access == allAccess:
		p.ret(true)
	case m.allow:
		// Clear the bits this rule allows; allowed once nothing is left to decide.
		p.insns = append(p.insns, insn{op: opAnd32, dst: r3, imm: ^m.access})
		skips = append(skips, len(p.insns))
		p.insns = append(p.insns, insn{op: opJne, dst: r3, imm: 0})
		p.ret(true)
	case m.access == allAccess:
		p.ret(false)
	default:
		// Refused if the request still has a bit this rule denies.
		p.insns = append(p.insns,
			insn{op: opMov32X, dst: r1, src: r3},
			insn{op: opAnd32, dst: r1, imm: m.access})
		skips = append(skips, len(p.insns))
		p.insns = append(p.insns, insn{op: opJeq, dst: r1, imm: 0})
		p.ret(false)
	}
	next := len(p.insns)
	for _, j := range skips {
		p.insns[j].off = int16(next - j - 1)
	}
}
