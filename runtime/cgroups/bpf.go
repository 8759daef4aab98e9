package cgroups

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bpf(2) for the device filter, written against include/uapi/linux/bpf.h: load the program,
// attach it to a cgroup2 directory beside (BPF_F_ALLOW_MULTI) whatever the cgroup's ancestors
// attach, and take off the one it replaces. An attached program is held by the cgroup: the file
// descriptors can be closed at once, and the kernel drops the program when the cgroup goes.

// The attr structs below are prefixes of union bpf_attr for one command each; the kernel reads
// the fields it knows and takes the rest as zero. Pointers are unsafe.Pointer so the collector
// sees them; that makes them 64-bit fields only on 64-bit platforms (checked in bpfSyscall).

type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       unsafe.Pointer
	license     unsafe.Pointer
	logLevel    uint32
	logSize     uint32
	logBuf      unsafe.Pointer
	kernVersion uint32
	progFlags   uint32
	progName    [unix.BPF_OBJ_NAME_LEN]byte
}

type bpfAttachAttr struct {
	targetFd    uint32
	attachBpfFd uint32
	attachType  uint32
	attachFlags uint32
}

type bpfQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     unsafe.Pointer
	progCnt     uint32
	_           uint32
}

type bpfGetFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

func bpfSyscall(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return -1, errors.New("bpf attributes are only laid out for 64-bit platforms")
	}
	var errno unix.Errno
	// The verifier can be interrupted by a signal (EINTR) or ask to be called again (EAGAIN);
	// libbpf gives it a few tries too.
	for try := 0; try < 5; try++ {
		var r uintptr
		r, _, errno = unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
		if errno == 0 {
			return int(r), nil
		}
		if errno != unix.EINTR && errno != unix.EAGAIN {
			break
		}
	}
	return -1, errno
}

// deviceProgramName shows in bpftool prog list (at most 15 bytes of [A-Za-z0-9_.]).
const deviceProgramName = "podnet_devices"

// loadDeviceProgram loads p and returns its file descriptor. On a verifier error it loads again
// with the verifier's log, which says which instruction it refused.
func loadDeviceProgram(p *DeviceProgram) (int, error) {
	code := p.bytes()
	if len(code) == 0 {
		return -1, errors.New("empty device program")
	}
	// The license only decides whether GPL-only helpers may be called; the filter calls none.
	license := []byte("\x00")
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(p.Len()),
		insns:    unsafe.Pointer(&code[0]),
		license:  unsafe.Pointer(&license[0]),
	}
	copy(attr.progName[:], deviceProgramName)
	fd, err := bpfSyscall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EACCES) {
		return -1, fmt.Errorf("load device filter: %w", err)
	}
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), unsafe.Pointer(&log[0])
	if fd, err2 := bpfSyscall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 == nil {
		return fd, nil // refused once, accepted with a log: take it
	}
	return -1, fmt.Errorf("load device filter: %w: verifier: %s", err, cString(log))
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// attachedDevicePrograms lists the ids of the device programs attached to the cgroup2 directory
// open as dirFd itself (not those it inherits).
func attachedDevicePrograms(dirFd int) ([]uint32, error) {
	ids := make([]uint32, 16)
	for {
		attr := bpfQueryAttr{
			targetFd:   uint32(dirFd),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    unsafe.Pointer(&ids[0]),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpfSyscall(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		if errors.Is(err, unix.ENOSPC) && int(attr.progCnt) > len(ids) {
			ids = make([]uint32, attr.progCnt)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("query device filters: %w", err)
		}
		return ids[:attr.progCnt], nil
	}
}

func attachOp(cmd int, dirFd, progFd int, flags uint32) error {
	attr := bpfAttachAttr{
		targetFd:    uint32(dirFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: flags,
	}
	_, err := bpfSyscall(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

func progFdByID(id uint32) (int, error) {
	attr := bpfGetFdByIDAttr{id: id}
	return bpfSyscall(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// AttachDeviceProgram loads p and attaches it to the cgroup2 directory dir, replacing the device
// programs attached there before (a second Set of the same cgroup must not leave the first
// filter in force: all attached programs have to allow an access). The new program is attached
// before the old ones are taken off, so the cgroup is never without a filter. Its errors name
// dir but not the package: Set wraps them.
func AttachDeviceProgram(dir string, p *DeviceProgram) error {
	dirFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(dirFd)
	oldIDs, err := attachedDevicePrograms(dirFd)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	// Take hold of the old programs first: getting them is what can fail, and nothing is
	// attached yet.
	type held struct {
		id uint32
		fd int
	}
	var old []held
	defer func() {
		for _, o := range old {
			unix.Close(o.fd)
		}
	}()
	for _, id := range oldIDs {
		fd, err := progFdByID(id)
		if errors.Is(err, unix.ENOENT) {
			continue // detached and freed meanwhile
		}
		if err != nil {
			return fmt.Errorf("%s: device filter %d: %w", dir, id, err)
		}
		old = append(old, held{id, fd})
	}
	progFd, err := loadDeviceProgram(p)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	defer unix.Close(progFd)
	if err := attachOp(unix.BPF_PROG_ATTACH, dirFd, progFd, unix.BPF_F_ALLOW_MULTI); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	for _, o := range old {
		// On failure the new program stays: with it and what is left of the old ones attached,
		// the cgroup is at least as strict as either list alone.
		if err := attachOp(unix.BPF_PROG_DETACH, dirFd, o.fd, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach old device filter %d from %s: %w", o.id, dir, err)
		}
	}
	return nil
}

// DevicePrograms lists the ids of the device programs attached to the cgroup2 directory dir.
func DevicePrograms(dir string) ([]uint32, error) {
	dirFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroups: open %s: %w", dir, err)
	}
	defer unix.Close(dirFd)
	ids, err := attachedDevicePrograms(dirFd)
	if err != nil {
		return nil, fmt.Errorf("cgroups: %s: %w", dir, err)
	}
	return ids, nil
}
