package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultDevices are the device rules runc's specconv appends after the spec's own, so that a
// container whose spec denies everything still has its standard /dev nodes.
var defaultDevices = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"},
	{Allow: true, Type: "b", Access: "m"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},    // null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},    // random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},    // full
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},    // tty
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},    // zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},    // urandom
	{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},                 // pts/*
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},    // ptmx
	{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"}, // net/tun
}

func i64(v int64) *int64 { return &v }

// Set writes the limits of r. A nil r, or a nil part of it, leaves the kernel's defaults.
//
// Memory follows runc: memory.limit_in_bytes (v1) / memory.max (v2) from memory.limit; swap is
// only touched when the spec gives memory.swap (v1 memory.memsw.limit_in_bytes, which exists only
// with swap accounting; v2 memory.swap.max = swap - limit). CPU shares become cpu.weight on v2
// with runc's conversion 1 + (shares-2)*9999/262142.
func (c *Cgroup) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if c.h.V2 {
		return c.setV2(r)
	}
	return c.setV1(r)
}

type write struct{ ctrl, file, val string }

func (c *Cgroup) apply(ws []write) error {
	for _, w := range ws {
		dir := c.dirFor(w.ctrl)
		if dir == "" {
			return fmt.Errorf("cgroups: %s needs the %s controller, which is not mounted", w.file, w.ctrl)
		}
		if err := writeFile(dir, w.file, w.val); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cgroup) exists(ctrl, file string) bool {
	dir := c.dirFor(ctrl)
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, file))
	return err == nil
}

func (c *Cgroup) setV1(r *specs.LinuxResources) error {
	// A hybrid host's unified hierarchy gets the filter as well: the kernel asks both the v1
	// controller and the cgroup2 programs, and the v1 controller may not be mounted at all.
	if err := c.setDeviceFilter(r.Devices); err != nil {
		return err
	}
	var ws []write
	if c.dirFor("devices") != "" && (len(r.Devices) > 0) {
		ws = append(ws, write{"devices", "devices.deny", "a"})
		for _, d := range append(append([]specs.LinuxDeviceCgroup{}, r.Devices...), defaultDevices...) {
			file := "devices.deny"
			if d.Allow {
				file = "devices.allow"
			}
			ws = append(ws, write{"devices", file, deviceRule(d)})
		}
	}
	if m := r.Memory; m != nil {
		limit := write{"memory", "memory.limit_in_bytes", ""}
		if m.Limit != nil {
			limit.val = strconv.FormatInt(*m.Limit, 10)
		}
		var swap write
		if m.Swap != nil && c.exists("memory", "memory.memsw.limit_in_bytes") {
			swap = write{"memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(*m.Swap, 10)}
		}
		// memsw must stay >= limit at every step, so the order depends on the direction.
		if swap.val != "" && (m.Limit == nil || *m.Limit == -1 || *m.Swap == -1 || c.growing(*m.Limit)) {
			ws = append(ws, swap)
			swap.val = ""
		}
		if limit.val != "" {
			ws = append(ws, limit)
		}
		if swap.val != "" {
			ws = append(ws, swap)
		}
		if m.Reservation != nil {
			ws = append(ws, write{"memory", "memory.soft_limit_in_bytes", strconv.FormatInt(*m.Reservation, 10)})
		}
		if m.Swappiness != nil && *m.Swappiness <= 100 {
			ws = append(ws, write{"memory", "memory.swappiness", strconv.FormatUint(*m.Swappiness, 10)})
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			ws = append(ws, write{"memory", "memory.oom_control", "1"})
		}
	}
	if cpu := r.CPU; cpu != nil {
		if cpu.Shares != nil && *cpu.Shares != 0 {
			ws = append(ws, write{"cpu", "cpu.shares", strconv.FormatUint(*cpu.Shares, 10)})
		}
		if cpu.Period != nil && *cpu.Period != 0 {
			ws = append(ws, write{"cpu", "cpu.cfs_period_us", strconv.FormatUint(*cpu.Period, 10)})
		}
		if cpu.Quota != nil && *cpu.Quota != 0 {
			ws = append(ws, write{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(*cpu.Quota, 10)})
		}
		if cpu.Burst != nil {
			ws = append(ws, write{"cpu", "cpu.cfs_burst_us", strconv.FormatUint(*cpu.Burst, 10)})
		}
		if cpu.Cpus != "" {
			ws = append(ws, write{"cpuset", "cpuset.cpus", cpu.Cpus})
		}
		if cpu.Mems != "" {
			ws = append(ws, write{"cpuset", "cpuset.mems", cpu.Mems})
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit != 0 {
		ws = append(ws, write{"pids", "pids.max", pidsMax(*r.Pids.Limit)})
	}
	if len(r.Unified) > 0 {
		return errors.New("cgroups: linux.resources.unified needs a cgroup v2 host")
	}
	return c.apply(ws)
}

// growing reports whether limit is above the current v1 memory limit.
func (c *Cgroup) growing(limit int64) bool {
	data, err := os.ReadFile(filepath.Join(c.dirFor("memory"), "memory.limit_in_bytes"))
	if err != nil {
		return false
	}
	cur, err := strconv.ParseInt(string(trimNL(data)), 10, 64)
	return err == nil && limit > cur
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func deviceRule(d specs.LinuxDeviceCgroup) string {
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	if typ == "a" {
		return "a"
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), access)
}

// setDeviceFilter enforces the device rules (devs, then defaultDevices) in the cgroup's cgroup2
// directory, where there is no devices.allow: through a BPF_PROG_TYPE_CGROUP_DEVICE program, as
// runc and crun do (see devicefilter.go). No rules leaves the devices alone, as on v1, so that a
// Set that changes other limits keeps the filter in place.
func (c *Cgroup) setDeviceFilter(devs []specs.LinuxDeviceCgroup) error {
	dir := c.UnifiedDir()
	if dir == "" || len(devs) == 0 {
		return nil
	}
	prog, err := newDeviceProgram(append(append([]specs.LinuxDeviceCgroup{}, devs...), defaultDevices...))
	if err != nil {
		return err
	}
	attach := c.h.AttachDevices
	if attach == nil {
		attach = AttachDeviceProgram
	}
	if err := attach(dir, prog); err != nil {
		if !c.h.V2 && c.dirFor("devices") != "" {
			// A hybrid host: the v1 devices controller enforces the same rules, so a kernel
			// without cgroup BPF (or a bpf(2) denied by policy) costs nothing here, unlike on v2.
			return nil
		}
		return fmt.Errorf("cgroups: devices of %s: %w", c.path, err)
	}
	return nil
}

func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

// sharesToWeight is runc's mapping of v1 cpu.shares [2, 262144] onto v2 cpu.weight [1, 10000].
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	return 1 + ((shares-2)*9999)/262142
}

func (c *Cgroup) setV2(r *specs.LinuxResources) error {
	if err := c.setDeviceFilter(r.Devices); err != nil {
		return err
	}
	var ws []write
	if m := r.Memory; m != nil {
		if m.Limit != nil {
			ws = append(ws, write{"memory", "memory.max", maxOrNum(*m.Limit)})
		}
		if m.Swap != nil && *m.Swap != 0 && c.exists("memory", "memory.swap.max") {
			val := "max"
			if *m.Swap != -1 {
				if m.Limit == nil || *m.Limit <= 0 {
					return errors.New("cgroups: a swap limit needs a memory limit")
				}
				if *m.Swap < *m.Limit {
					return fmt.Errorf("cgroups: memory+swap limit %d is below the memory limit %d", *m.Swap, *m.Limit)
				}
				val = strconv.FormatInt(*m.Swap-*m.Limit, 10)
			}
			ws = append(ws, write{"memory", "memory.swap.max", val})
		}
		if m.Reservation != nil {
			ws = append(ws, write{"memory", "memory.low", maxOrNum(*m.Reservation)})
		}
	}
	if cpu := r.CPU; cpu != nil {
		if cpu.Shares != nil && *cpu.Shares != 0 {
			ws = append(ws, write{"cpu", "cpu.weight", strconv.FormatUint(sharesToWeight(*cpu.Shares), 10)})
		}
		quota, period := int64(0), uint64(0)
		if cpu.Quota != nil {
			quota = *cpu.Quota
		}
		if cpu.Period != nil {
			period = *cpu.Period
		}
		if quota != 0 || period != 0 {
			val := "max"
			if quota > 0 {
				val = strconv.FormatInt(quota, 10)
			}
			if period != 0 {
				val += " " + strconv.FormatUint(period, 10)
			}
			ws = append(ws, write{"cpu", "cpu.max", val})
		}
		if cpu.Cpus != "" {
			ws = append(ws, write{"cpuset", "cpuset.cpus", cpu.Cpus})
		}
		if cpu.Mems != "" {
			ws = append(ws, write{"cpuset", "cpuset.mems", cpu.Mems})
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit != 0 {
		ws = append(ws, write{"pids", "pids.max", pidsMax(*r.Pids.Limit)})
	}
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if filepath.Base(k) != k || k == "cgroup.procs" {
			return fmt.Errorf("cgroups: bad unified key %q", k)
		}
		ws = append(ws, write{"", k, r.Unified[k]})
	}
	return c.apply(ws)
}

func maxOrNum(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}
