package cgroups

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// prologue is the listing's first six lines, common to every program.
const prologue = `0: r2 = *(u32 *)(r1 + 0)
1: w2 &= 0xffff
2: r3 = *(u32 *)(r1 + 0)
3: w3 >>= 16
4: r4 = *(u32 *)(r1 + 4)
5: r5 = *(u32 *)(r1 + 8)
`

func dev(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	d := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major != -2 {
		d.Major = i64(major)
	}
	if minor != -2 {
		d.Minor = i64(minor)
	}
	return d
}

func TestDeviceProgramListing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  string
	}{{
		name:  "no rules: everything refused",
		rules: nil,
		want: prologue + `6: w0 = 0
7: exit
`,
	}, {
		name:  "one device, all access",
		rules: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, dev(true, "c", 1, 3, "rwm")},
		want: prologue + `6: if r2 != 2 goto 11
7: if r4 != 1 goto 11
8: if r5 != 3 goto 11
9: w0 = 1
10: exit
11: w0 = 0
12: exit
`,
	}, {
		name: "wildcards, partial allow, partial deny; nil, -1 and omitted access",
		rules: []specs.LinuxDeviceCgroup{
			dev(true, "c", 136, -1, "rw"),
			dev(true, "b", -2, -2, "m"),
			dev(false, "b", 8, -2, "w"),
			dev(false, "c", -1, 5, ""),
		},
		want: prologue + `6: if r2 != 2 goto 10
7: if r5 != 5 goto 10
8: w0 = 0
9: exit
10: if r2 != 1 goto 17
11: if r4 != 8 goto 17
12: w1 = w3
13: w1 &= 0x4
14: if r1 == 0 goto 17
15: w0 = 0
16: exit
17: if r2 != 1 goto 22
18: w3 &= 0xfffffffe
19: if r3 != 0 goto 22
20: w0 = 1
21: exit
22: if r2 != 2 goto 28
23: if r4 != 136 goto 28
24: w3 &= 0xfffffff9
25: if r3 != 0 goto 28
26: w0 = 1
27: exit
28: w0 = 0
29: exit
`,
	}, {
		// A type "a" rule decides every bit still open, whatever its numbers and access say,
		// so the rules before it are not even emitted.
		name: "allow a ends the walk (privileged)",
		rules: []specs.LinuxDeviceCgroup{
			dev(true, "c", 1, 3, "rwm"),
			{Allow: true, Type: "a", Major: i64(1), Access: "r"},
			dev(false, "c", 1, 5, "rwm"),
		},
		want: prologue + `6: if r2 != 2 goto 11
7: if r4 != 1 goto 11
8: if r5 != 5 goto 11
9: w0 = 0
10: exit
11: w0 = 1
12: exit
`,
	}, {
		// What podnet's v1 path writes for a spec denying everything: the defaults, walked from
		// the last. The final "deny a" gives the same answer as running out of rules.
		name:  "deny all plus podnet's defaults",
		rules: append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, defaultDevices...),
		want: prologue + `6: if r2 != 2 goto 11
7: if r4 != 10 goto 11
8: if r5 != 200 goto 11
9: w0 = 1
10: exit
11: if r2 != 2 goto 16
12: if r4 != 5 goto 16
13: if r5 != 2 goto 16
14: w0 = 1
15: exit
16: if r2 != 2 goto 20
17: if r4 != 136 goto 20
18: w0 = 1
19: exit
20: if r2 != 2 goto 25
21: if r4 != 1 goto 25
22: if r5 != 9 goto 25
23: w0 = 1
24: exit
25: if r2 != 2 goto 30
26: if r4 != 1 goto 30
27: if r5 != 5 goto 30
28: w0 = 1
29: exit
30: if r2 != 2 goto 35
31: if r4 != 5 goto 35
32: if r5 != 0 goto 35
33: w0 = 1
34: exit
35: if r2 != 2 goto 40
36: if r4 != 1 goto 40
37: if r5 != 7 goto 40
38: w0 = 1
39: exit
40: if r2 != 2 goto 45
41: if r4 != 1 goto 45
42: if r5 != 8 goto 45
43: w0 = 1
44: exit
45: if r2 != 2 goto 50
46: if r4 != 1 goto 50
47: if r5 != 3 goto 50
48: w0 = 1
49: exit
50: if r2 != 1 goto 55
51: w3 &= 0xfffffffe
52: if r3 != 0 goto 55
53: w0 = 1
54: exit
55: if r2 != 2 goto 60
56: w3 &= 0xfffffffe
57: if r3 != 0 goto 60
58: w0 = 1
59: exit
60: w0 = 0
61: exit
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newDeviceProgram(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tc.want {
				t.Errorf("program:\n%s\nwant:\n%s", got, tc.want)
			}
			checkVerifiable(t, p)
		})
	}
}

// TestDeviceProgramEncoding pins the byte layout of each instruction form against struct
// bpf_insn: opcode, dst_reg in the low nibble and src_reg in the high one, off, imm.
func TestDeviceProgramEncoding(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the literal encodings below are little-endian")
	}
	for _, tc := range []struct {
		in   insn
		want string
	}{
		{insn{op: opLdxW, dst: r4, src: r1, off: 4}, "61 14 04 00 00 00 00 00"},
		{insn{op: opAnd32, dst: r2, imm: 0xffff}, "54 02 00 00 ff ff 00 00"},
		{insn{op: opAnd32, dst: r3, imm: ^int32(1)}, "54 03 00 00 fe ff ff ff"},
		{insn{op: opRsh32, dst: r3, imm: 16}, "74 03 00 00 10 00 00 00"},
		{insn{op: opMov32, dst: r0, imm: 1}, "b4 00 00 00 01 00 00 00"},
		{insn{op: opMov32X, dst: r1, src: r3}, "bc 31 00 00 00 00 00 00"},
		{insn{op: opJne, dst: r5, off: 3, imm: 200}, "55 05 03 00 c8 00 00 00"},
		{insn{op: opJeq, dst: r1, off: 2}, "15 01 02 00 00 00 00 00"},
		{insn{op: opExit}, "95 00 00 00 00 00 00 00"},
	} {
		p := &DeviceProgram{insns: []insn{tc.in}}
		if got := fmt.Sprintf("% x", p.bytes()); got != tc.want {
			t.Errorf("%s encodes as %s, want %s", strings.TrimSpace(p.String()), got, tc.want)
		}
	}
}

// Access bits and device types of struct bpf_cgroup_dev_ctx, spelled out for the tables.
const (
	accM, accR, accW = 1, 2, 4
	typB, typC       = 1, 2
)

// TestDeviceProgramVerdicts runs the encoded programs on requests, through a small interpreter
// of the instructions they use, and compares the answers with what the rule list means.
func TestDeviceProgramVerdicts(t *testing.T) {
	podnet := append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, defaultDevices...)
	type req struct {
		typ, major, minor, access uint32
		allow                     bool
	}
	for _, tc := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		reqs  []req
	}{{
		name:  "podnet defaults",
		rules: podnet,
		reqs: []req{
			{typC, 1, 3, accR | accW, true},    // /dev/null
			{typC, 1, 9, accR, true},           // /dev/urandom
			{typC, 136, 4, accR | accW, true},  // /dev/pts/4
			{typC, 10, 200, accR | accW, true}, // /dev/net/tun
			{typB, 254, 0, accM, true},         // mknod of the host's disk
			{typB, 254, 0, accR, false},        // ... but not opening it
			{typB, 8, 0, accR | accW, false},   // sda
			{typC, 1, 1, accR, false},          // /dev/mem
			{typC, 1, 1, accM, true},           // mknod of any char device
			{typC, 1, 1, accM | accR, false},   // mknod is not open
			{typC, 4, 0, accW, false},          // tty0
			{typC, 1, 3, accM | accR | accW, true},
		},
	}, {
		name:  "privileged: allow a, then the defaults",
		rules: append([]specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}, defaultDevices...),
		reqs: []req{
			{typB, 8, 0, accR | accW, true},
			{typC, 1, 1, accR, true},
		},
	}, {
		name: "a later deny overrides an earlier allow, per access bit",
		rules: []specs.LinuxDeviceCgroup{
			dev(true, "c", 1, 3, "rw"),
			dev(false, "c", 1, 3, "w"),
		},
		reqs: []req{
			{typC, 1, 3, accR, true},
			{typC, 1, 3, accW, false},
			{typC, 1, 3, accR | accW, false},
			{typC, 1, 3, accM, false}, // never allowed
		},
	}, {
		name: "a later allow overrides an earlier deny",
		rules: []specs.LinuxDeviceCgroup{
			{Allow: true, Access: "rwm"},
			dev(false, "b", 8, -1, "rwm"),
			dev(true, "b", 8, 1, "r"),
		},
		reqs: []req{
			{typB, 8, 1, accR, true},
			{typB, 8, 1, accR | accW, false},
			{typB, 8, 0, accR, false},
			{typB, 9, 0, accR | accW, true},
			{typC, 8, 0, accR, true},
		},
	}, {
		name: "access split over two allow rules adds up",
		rules: []specs.LinuxDeviceCgroup{
			dev(true, "c", 1, 3, "r"),
			dev(true, "c", 1, 3, "w"),
		},
		reqs: []req{
			{typC, 1, 3, accR | accW, true},
			{typC, 1, 3, accR | accW | accM, false},
			{typB, 1, 3, accR, false}, // the type matters
		},
	}, {
		name:  "deny a last wins over everything before it",
		rules: []specs.LinuxDeviceCgroup{dev(true, "c", 1, 3, "rwm"), {Allow: false, Type: "a"}},
		reqs:  []req{{typC, 1, 3, accR, false}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newDeviceProgram(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			checkVerifiable(t, p)
			for _, r := range tc.reqs {
				got, err := runDeviceProgram(p.bytes(), r.access<<16|r.typ, r.major, r.minor)
				if err != nil {
					t.Fatal(err)
				}
				if got != r.allow {
					t.Errorf("type %d %d:%d access %03b: allowed %v, want %v", r.typ, r.major, r.minor, r.access, got, r.allow)
				}
			}
		})
	}
}

func TestDeviceProgramBadRules(t *testing.T) {
	for _, tc := range []struct {
		rule specs.LinuxDeviceCgroup
		want string
	}{
		{dev(true, "p", 1, 3, "rwm"), `cgroups: device rule 1: device type "p" is not a, b or c`},
		{dev(true, "c", 1, 3, "rwx"), `cgroups: device rule 1: device access "rwx" has 'x', not one of r, w, m`},
		{dev(true, "c", 1<<32, 3, "r"), `cgroups: device rule 1: device major 4294967296 is out of range`},
		{dev(true, "b", 8, 1<<31, "r"), `cgroups: device rule 1: device minor 2147483648 is out of range`},
	} {
		_, err := newDeviceProgram([]specs.LinuxDeviceCgroup{{Allow: false}, tc.rule})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: error %v, want %q", tc.rule, err, tc.want)
		}
	}
}

// checkVerifiable checks what the kernel's verifier would refuse first: jumps that leave the
// program or go backwards, a last instruction that is not exit, r0 unset at an exit.
func checkVerifiable(t *testing.T, p *DeviceProgram) {
	t.Helper()
	n := len(p.insns)
	if n == 0 || p.insns[n-1].op != opExit {
		t.Fatalf("program does not end in exit:\n%s", p)
	}
	for i, in := range p.insns {
		switch in.op {
		case opJeq, opJne:
			if in.off < 0 || i+1+int(in.off) >= n {
				t.Errorf("insn %d jumps to %d, outside [%d, %d)", i, i+1+int(in.off), i+1, n)
			}
		case opExit:
			if i == 0 || p.insns[i-1].op != opMov32 || p.insns[i-1].dst != r0 {
				t.Errorf("insn %d exits without setting r0 just before", i)
			}
		}
	}
}

// runDeviceProgram interprets an encoded program on a bpf_cgroup_dev_ctx, as the kernel would
// run it, for the opcodes newDeviceProgram emits.
func runDeviceProgram(code []byte, accessType, major, minor uint32) (bool, error) {
	ctx := map[int16]uint32{0: accessType, 4: major, 8: minor}
	var reg [11]uint64
	const ctxReg = 1
	ctxLive := true // r1 still points at the context
	for pc, steps := 0, 0; steps < 10000; steps++ {
		if pc < 0 || 8*pc+8 > len(code) {
			return false, fmt.Errorf("pc %d outside the program", pc)
		}
		b := code[8*pc:]
		op, dst, src := b[0], b[1]&0xf, b[1]>>4
		off := int16(binary.NativeEndian.Uint16(b[2:]))
		imm := int32(binary.NativeEndian.Uint32(b[4:]))
		pc++
		switch op {
		case opLdxW:
			v, ok := ctx[off]
			if src != ctxReg || !ctxLive || !ok {
				return false, fmt.Errorf("bad load r%d = *(r%d + %d)", dst, src, off)
			}
			reg[dst] = uint64(v)
		case opMov32:
			reg[dst] = uint64(uint32(imm))
		case opMov32X:
			reg[dst] = uint64(uint32(reg[src]))
		case opAnd32:
			reg[dst] = uint64(uint32(reg[dst]) & uint32(imm))
		case opRsh32:
			reg[dst] = uint64(uint32(reg[dst]) >> uint(imm))
		case opJeq:
			if reg[dst] == uint64(int64(imm)) {
				pc += int(off)
			}
		case opJne:
			if reg[dst] != uint64(int64(imm)) {
				pc += int(off)
			}
		case opExit:
			return reg[0] == 1, nil
		default:
			return false, fmt.Errorf("unknown opcode %#x at %d", op, pc-1)
		}
		if dst == ctxReg && op != opJeq && op != opJne {
			ctxLive = false
		}
	}
	return false, fmt.Errorf("program did not end")
}

// TestDeviceFilterOnCreate checks that Create gives the filter to the cgroup2 directory, on a
// pure v2 host and in the unified mount of a hybrid one, and that no device rules means none.
func TestDeviceFilterOnCreate(t *testing.T) {
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, dev(true, "c", 1, 1, "r")}
	want, err := newDeviceProgram(append(append([]specs.LinuxDeviceCgroup{}, rules...), defaultDevices...))
	if err != nil {
		t.Fatal(err)
	}
	v2 := func(root string) *Hierarchy { return &Hierarchy{Root: root, V2: true} }
	hybrid := func(root string) *Hierarchy {
		return &Hierarchy{Root: root, Mounts: map[string][]string{
			filepath.Join(root, "devices"): {"devices"},
			filepath.Join(root, "unified"): {HybridUnified},
		}}
	}
	legacy := func(root string) *Hierarchy {
		return &Hierarchy{Root: root, Mounts: map[string][]string{filepath.Join(root, "devices"): {"devices"}}}
	}
	for _, tc := range []struct {
		name    string
		h       func(root string) *Hierarchy
		devices []specs.LinuxDeviceCgroup
		wantDir string // relative to root; "" for no attach
	}{
		{"v2", v2, rules, "podnet/n/c"},
		{"hybrid", hybrid, rules, "unified/podnet/n/c"},
		{"legacy v1", legacy, rules, ""},
		{"v2 without device rules", v2, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeTree(t, map[string]string{
				"cgroup.controllers": "", "podnet/cgroup.controllers": "", "podnet/n/cgroup.controllers": ""})
			h := tc.h(root)
			var dirs []string
			h.AttachDevices = func(dir string, p *DeviceProgram) error {
				rel, _ := filepath.Rel(root, dir)
				dirs = append(dirs, rel)
				if p.String() != want.String() {
					t.Errorf("attached program:\n%s\nwant:\n%s", p, want)
				}
				return nil
			}
			c, err := h.Create("/podnet/n/c", &specs.LinuxResources{Devices: tc.devices})
			if err != nil {
				t.Fatal(err)
			}
			var wantDirs []string
			if tc.wantDir != "" {
				wantDirs = []string{tc.wantDir}
				if got, _ := filepath.Rel(root, c.UnifiedDir()); got != tc.wantDir {
					t.Errorf("UnifiedDir = %s, want %s", got, tc.wantDir)
				}
			}
			if !reflect.DeepEqual(dirs, wantDirs) {
				t.Errorf("filter attached to %q, want %q", dirs, wantDirs)
			}
		})
	}
}

// A kernel that refuses the device program fails the container on v2, where nothing else
// guards devices, and not on a hybrid host, whose v1 devices controller enforces the rules.
func TestDeviceFilterRefused(t *testing.T) {
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	for _, tc := range []struct {
		name    string
		h       func(root string) *Hierarchy
		wantErr bool
	}{
		{"v2", func(root string) *Hierarchy { return &Hierarchy{Root: root, V2: true} }, true},
		{"hybrid", func(root string) *Hierarchy {
			return &Hierarchy{Root: root, Mounts: map[string][]string{
				filepath.Join(root, "devices"): {"devices"},
				filepath.Join(root, "unified"): {HybridUnified},
			}}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeTree(t, map[string]string{
				"cgroup.controllers": "", "podnet/cgroup.controllers": "", "podnet/n/cgroup.controllers": ""})
			h := tc.h(root)
			h.AttachDevices = func(string, *DeviceProgram) error { return unix.EPERM }
			_, err := h.Create("/podnet/n/c", &specs.LinuxResources{Devices: rules})
			if (err != nil) != tc.wantErr {
				t.Errorf("Create: %v, want an error: %v", err, tc.wantErr)
			}
		})
	}
}
