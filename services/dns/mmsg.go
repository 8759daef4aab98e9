package dns

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgConn reads and writes batches of datagrams on a UDP socket with recvmmsg and sendmmsg.
//
// The calls are raw (unix.RawSyscall6, not Syscall6) on the socket Go keeps non-blocking: they
// never wait, and a raw call skips the scheduler's bookkeeping for a syscall that may block. That
// bookkeeping is not only slower: a goroutine that is in a syscall at two sysmon ticks in a row
// loses its P, and a loop that spends most of its time in sendmmsg kept the runtime's sysmon
// thread waking every 20 µs to do that (a tenth of the daemon's CPU under load). When the socket
// has nothing to read (or no room to write), RawConn's Read and Write wait on the netpoller.
type mmsgConn struct {
	rc    syscall.RawConn
	size  int       // bytes per datagram buffer
	bufs  []byte    // len(rhdrs) buffers of size
	rhdrs []mmsghdr // one per datagram read
	riov  []unix.Iovec
	names []unix.RawSockaddrInet6 // the senders; replies go back to them
	shdrs []mmsghdr               // one per reply to send
	siov  []unix.Iovec

	// The syscalls, as RawConn's callbacks: bound once, so that a batch allocates nothing (a
	// closure passed to an interface method escapes), with their arguments and results here.
	recvFn, sendFn func(fd uintptr) bool
	off, end       int // replies off..end-1 are to be sent
	n              int // datagrams read, or replies sent
	errno          syscall.Errno
}

// mmsghdr is struct mmsghdr: a msghdr and the byte count the kernel fills in (Go pads it as C
// does on 64-bit).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

func newMmsgConn(c *net.UDPConn, batch, size int) (*mmsgConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dns udp socket: %w", err)
	}
	// Mapped rather than allocated: a 2 MB Go allocation that reuses heap memory is zeroed, which
	// makes all of it resident; fresh anonymous pages stay unbacked until a datagram lands in
	// them, so a batch of small queries costs a page each.
	bufs, err := unix.Mmap(-1, 0, batch*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("dns udp buffers: %w", err)
	}
	m := &mmsgConn{
		rc: rc, size: size, bufs: bufs,
		rhdrs: make([]mmsghdr, batch), riov: make([]unix.Iovec, batch), names: make([]unix.RawSockaddrInet6, batch),
		shdrs: make([]mmsghdr, batch), siov: make([]unix.Iovec, batch),
	}
	m.recvFn, m.sendFn = m.recvmmsg, m.sendmmsg
	for i := range m.rhdrs {
		m.riov[i].Base = &m.bufs[i*size]
		m.riov[i].SetLen(size)
		m.rhdrs[i].hdr.Iov = &m.riov[i]
		m.rhdrs[i].hdr.SetIovlen(1)
		m.rhdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		m.shdrs[i].hdr.Iov = &m.siov[i]
		m.shdrs[i].hdr.SetIovlen(1)
	}
	return m, nil
}

// close releases the buffers; the socket is the caller's.
func (m *mmsgConn) close() { _ = unix.Munmap(m.bufs) }

// read waits for datagrams and reads as many as are queued, up to the batch; it returns how many.
func (m *mmsgConn) read() (int, error) {
	for i := range m.rhdrs {
		m.rhdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		m.rhdrs[i].hdr.Flags = 0
		m.rhdrs[i].n = 0
	}
	if err := m.rc.Read(m.recvFn); err != nil {
		return 0, err
	}
	if m.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", m.errno)
	}
	return m.n, nil
}

// recvmmsg is read's call; false (nothing queued) makes RawConn wait until the socket is readable.
func (m *mmsgConn) recvmmsg(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.rhdrs[0])), uintptr(len(m.rhdrs)), 0, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	m.n, m.errno = int(r), e
	return true
}

// packet is datagram i of the last read.
func (m *mmsgConn) packet(i int) []byte {
	return m.bufs[i*m.size : i*m.size+int(m.rhdrs[i].n)]
}

// from is the sender of datagram i.
func (m *mmsgConn) from(i int) (netip.AddrPort, bool) {
	sa := &m.names[i]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port), true
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), true
	}
	return netip.AddrPort{}, false
}

// setReply makes reply k go to the sender of datagram i; reply must stay untouched until send.
func (m *mmsgConn) setReply(k, i int, reply []byte) {
	m.siov[k].Base = &reply[0]
	m.siov[k].SetLen(len(reply))
	m.shdrs[k].hdr.Name = (*byte)(unsafe.Pointer(&m.names[i]))
	m.shdrs[k].hdr.Namelen = m.rhdrs[i].hdr.Namelen
}

// send writes replies 0..k-1; one the kernel refuses is skipped and reported through fail, as a
// failed write of a single reply would be.
func (m *mmsgConn) send(k int, fail func(error)) error {
	for m.off, m.end = 0, k; m.off < m.end; {
		if err := m.rc.Write(m.sendFn); err != nil {
			return err
		}
		if m.errno != 0 {
			fail(os.NewSyscallError("sendmmsg", m.errno))
			m.n = 1
		}
		m.off += m.n
	}
	return nil
}

// sendmmsg is send's call; false (no room) makes RawConn wait until the socket is writable.
func (m *mmsgConn) sendmmsg(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&m.shdrs[m.off])), uintptr(m.end-m.off), 0, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	m.n, m.errno = int(r), e
	return true
}
