package containers

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/oci"
)

// openInRoot opens a file of the container's rootfs, resolving symlinks inside it: an image
// must not make the daemon read the host's files through a link.
func openInRoot(rootfs, path string) (*os.File, error) {
	root, err := os.Open(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fd, err := unix.Openat2(int(root.Fd()), path, &unix.OpenHow{
		Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// resolveUser turns the image's USER name into ids by the container's /etc/passwd and adds the
// user's groups from /etc/group, as containerd does for a named user.
func resolveUser(rootfs, name string, u *oci.User) error {
	f, err := openInRoot(rootfs, "/etc/passwd")
	if err != nil {
		return fmt.Errorf("unable to find user %s: no /etc/passwd in the image", name)
	}
	defer f.Close()
	uid, gid, ok := lookup(f, name)
	if !ok {
		return fmt.Errorf("unable to find user %s: no matching entries in passwd file", name)
	}
	u.UID, u.GID = uid, gid
	if g, err := openInRoot(rootfs, "/etc/group"); err == nil {
		defer g.Close()
		u.AdditionalGids = append(u.AdditionalGids, groupsOf(g, name)...)
	}
	return nil
}

// lookup finds name in a passwd file.
func lookup(r io.Reader, name string) (uid, gid uint32, ok bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || f[0] != name {
			continue
		}
		u, err1 := strconv.ParseUint(f[2], 10, 32)
		g, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		return uint32(u), uint32(g), true
	}
	return 0, 0, false
}

// groupsOf lists the groups whose member list names user.
func groupsOf(r io.Reader, user string) []uint32 {
	var out []uint32
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 {
			continue
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == user {
				if g, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					out = append(out, uint32(g))
				}
			}
		}
	}
	return out
}
