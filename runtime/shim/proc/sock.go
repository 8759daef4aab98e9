package proc

import (
	"os"

	"golang.org/x/sys/unix"
)

// listener is a unix stream socket served through the runtime's poller. It stands in for package
// net, whose initialisers and resolver the shim does not need.
type listener struct {
	f    *os.File
	path string
}

func listen(path string) (*listener, error) {
	os.Remove(path)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, wrap("attach socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, wrap("bind "+path, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		return nil, wrap("listen "+path, err)
	}
	return &listener{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

// accept returns the next connection as a pollable file, or an error once the listener is closed.
func (l *listener) accept() (*os.File, error) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return aerr != unix.EAGAIN
	})
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, aerr
	}
	return os.NewFile(uintptr(nfd), "attach"), nil
}

func (l *listener) close() {
	l.f.Close()
	os.Remove(l.path)
}
