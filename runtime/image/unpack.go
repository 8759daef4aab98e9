package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	overlayOpaque  = "trusted.overlay.opaque"
	paxXattr       = "SCHILY.xattr."
)

// localPath is a tar entry name made relative to the layer root, or an error when it would leave it.
func localPath(name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == "" {
		p = "."
	}
	if !filepath.IsLocal(p) && p != "." {
		return "", fmt.Errorf("entry %q escapes the layer directory", name)
	}
	return p, nil
}

// dirAttrs are applied once every entry is in place: a read-only directory must stay writable
// while it fills, and adding entries changes its mtime.
type dirAttrs struct {
	mode  uint32
	mtime time.Time
}

// unpack writes the layer tar r into dst, converting whiteouts for overlayfs.
func unpack(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	root := os.Geteuid() == 0
	dirs := map[string]dirAttrs{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		rel, err := localPath(h.Name)
		if err != nil {
			return err
		}
		if rel == "." {
			continue // the layer root's attributes belong to the container's upper dir
		}
		parent, base := path.Split(rel)
		if err := mkParents(dst, parent); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		target := filepath.Join(dst, rel)

		switch {
		case base == whiteoutOpaque:
			if err := unix.Lsetxattr(filepath.Join(dst, parent), overlayOpaque, []byte("y"), 0); err != nil {
				return fmt.Errorf("%s: mark opaque: %w", h.Name, err)
			}
			continue
		case strings.HasPrefix(base, whiteoutMeta):
			continue // aufs' own bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing in overlayfs
		case strings.HasPrefix(base, whiteoutPrefix):
			hidden := filepath.Join(dst, parent, base[len(whiteoutPrefix):])
			if err := os.RemoveAll(hidden); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
			if err := unix.Mknod(hidden, unix.S_IFCHR, 0); err != nil {
				return fmt.Errorf("%s: whiteout: %w", h.Name, err)
			}
			continue
		}

		if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && h.Typeflag == tar.TypeDir) {
			// A later entry for the same path replaces the earlier one.
			if err := os.RemoveAll(target); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
		mode := uint32(h.Mode & 0o7777)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		case tar.TypeReg:
			if err := writeFile(target, tr); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			// The target is resolved inside the container, never here.
			if err := os.Symlink(h.Linkname, target); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		case tar.TypeLink:
			src, err := localPath(h.Linkname)
			if err != nil || src == "." {
				return fmt.Errorf("%s: hardlink to %q outside the layer", h.Name, h.Linkname)
			}
			if err := checkNoSymlinkParents(dst, path.Dir(src)); err != nil {
				return fmt.Errorf("%s: hardlink to %q: %w", h.Name, h.Linkname, err)
			}
			if err := os.Link(filepath.Join(dst, src), target); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[h.Typeflag]
			if err := unix.Mknod(target, typ|mode, int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		default:
			continue // pax/gnu headers and other metadata-only entries
		}
		if h.Typeflag == tar.TypeLink {
			continue // the same inode as its target: its attributes are already set
		}
		// Order matters: chown clears setuid bits and file capabilities, so mode and xattrs follow it.
		if err := os.Lchown(target, h.Uid, h.Gid); err != nil && (root || !errors.Is(err, os.ErrPermission)) {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeDir {
			dirs[target] = dirAttrs{mode: mode, mtime: h.ModTime}
		} else if h.Typeflag != tar.TypeSymlink {
			if err := unix.Fchmodat(unix.AT_FDCWD, target, mode, 0); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
		if err := setXattrs(target, h.PAXRecords, root); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if h.Typeflag != tar.TypeDir {
			if err := setTimes(target, h.ModTime); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
	}
	for d, a := range dirs {
		if err := unix.Fchmodat(unix.AT_FDCWD, d, a.mode, 0); errors.Is(err, unix.ENOENT) {
			continue // replaced or whited out by a later entry
		} else if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		if err := setTimes(d, a.mtime); err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
	}
	return nil
}

func writeFile(target string, r io.Reader) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkParents makes the directories of rel inside dst that the tar did not list (0755, as docker
// does), refusing a path that passes through a symlink or a non-directory: a layer could otherwise
// write outside dst through a symlink it made itself.
func mkParents(dst, rel string) error {
	cur := dst
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		if part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("parent %s is not a directory (symlinks are not followed)", strings.TrimPrefix(cur, dst))
		}
	}
	return nil
}

func checkNoSymlinkParents(dst, rel string) error {
	cur := dst
	for _, part := range strings.Split(rel, "/") {
		if part == "" || part == "." {
			continue
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("parent %s is not a directory (symlinks are not followed)", strings.TrimPrefix(cur, dst))
		}
	}
	return nil
}

// setXattrs applies the xattrs of PAX records, except overlayfs' own: a layer may not forge
// overlay metadata (redirects, origins), only mark opacity the standard way. Without root,
// trusted.* and security.* cannot be set and are dropped.
func setXattrs(target string, pax map[string]string, root bool) error {
	for k, v := range pax {
		attr, ok := strings.CutPrefix(k, paxXattr)
		if !ok || strings.HasPrefix(attr, "trusted.overlay.") {
			continue
		}
		if err := unix.Lsetxattr(target, attr, []byte(v), 0); err != nil {
			if !root && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP)) {
				continue
			}
			return fmt.Errorf("xattr %s: %w", attr, err)
		}
	}
	return nil
}

func setTimes(target string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, target, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
