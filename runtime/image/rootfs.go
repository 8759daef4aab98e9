package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// maxMountData is the most mount(2) takes as options (one page, NUL included); a longer
// lowerdir list goes through fsconfig(2), which takes one lower layer at a time. A variable so
// that tests can force that path.
var maxMountData = os.Getpagesize() - 1

// MountRootfs mounts img's layers as an overlay at <containerDir>/rootfs, with upper/ and work/
// beside it (an image of a single layer needs the overlay too: the container writes to upper/).
// It returns the rootfs path; a rootfs that is already mounted is left as it is.
func MountRootfs(img *Image, containerDir string) (string, error) {
	rootfs := filepath.Join(containerDir, "rootfs")
	upper := filepath.Join(containerDir, "upper")
	work := filepath.Join(containerDir, "work")
	for _, d := range []string{rootfs, upper} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("mount rootfs: %w", err)
		}
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return "", fmt.Errorf("mount rootfs: %w", err)
	}
	if mounted, err := isMountPoint(rootfs); err != nil {
		return "", fmt.Errorf("mount rootfs: %w", err)
	} else if mounted {
		return rootfs, nil
	}
	lowers := slices.Clone(img.Layers)
	slices.Reverse(lowers) // overlayfs lists the top layer first
	if len(lowers) == 0 {
		empty := filepath.Join(containerDir, "lower")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", fmt.Errorf("mount rootfs: %w", err)
		}
		lowers = []string{empty}
	}
	for _, p := range append(slices.Clone(lowers), upper, work) {
		if strings.ContainsAny(p, ":,") {
			return "", fmt.Errorf("mount rootfs: path %s holds ':' or ',', which overlayfs options cannot carry", p)
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"), upper, work)
	var err error
	if len(data) <= maxMountData {
		err = unix.Mount("overlay", rootfs, "overlay", 0, data)
	} else {
		err = mountOverlayFsconfig(rootfs, lowers, upper, work)
	}
	if err != nil {
		return "", fmt.Errorf("mount overlay at %s: %w", rootfs, err)
	}
	return rootfs, nil
}

// mountOverlayFsconfig mounts overlayfs through the new mount API, adding the lower layers one at
// a time (lowerdir+, Linux 6.8), so that the number of layers is not bounded by a page of options.
func mountOverlayFsconfig(target string, lowers []string, upper, work string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return fmt.Errorf("fsconfig %s=%s: %w", k, v, err)
		}
		return nil
	}
	if err := set("source", "overlay"); err != nil {
		return err
	}
	for _, l := range lowers {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	if err := set("upperdir", upper); err != nil {
		return err
	}
	if err := set("workdir", work); err != nil {
		return err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("fsconfig create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// UnmountRootfs unmounts <containerDir>/rootfs and removes rootfs/, upper/ and work/. It is
// idempotent: a rootfs that is not mounted, or a containerDir that is gone, is no error.
func UnmountRootfs(containerDir string) error {
	rootfs := filepath.Join(containerDir, "rootfs")
	for range 16 { // mounts may be stacked; each unmount takes one off
		err := unix.Unmount(rootfs, 0)
		if errors.Is(err, unix.EBUSY) {
			// Still in use (a process inside, a leaked fd): detach it so the name is free;
			// the kernel frees the mount when the last user goes.
			err = unix.Unmount(rootfs, unix.MNT_DETACH)
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // not a mount point (any more)
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", rootfs, err)
		}
	}
	// Removing through a live overlay would delete the container's data via the mount, or worse:
	// only remove what is certainly unmounted.
	if mounted, err := isMountPoint(rootfs); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unmount %s: %w", rootfs, err)
	} else if mounted {
		return fmt.Errorf("unmount %s: still mounted", rootfs)
	}
	for _, d := range []string{"rootfs", "upper", "work", "lower"} {
		if err := os.RemoveAll(filepath.Join(containerDir, d)); err != nil {
			return fmt.Errorf("remove %s: %w", d, err)
		}
	}
	return nil
}

// isMountPoint compares p's device and mount ID with its parent's: an overlay has a device of its own.
func isMountPoint(p string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, os.ErrNotExist
		}
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(p), &parent); err != nil {
		return false, err
	}
	if st.Dev != parent.Dev {
		return true, nil
	}
	// A bind mount of the same filesystem keeps the device: statx's mount ID tells it apart.
	var sx, px unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &sx); err != nil {
		return false, nil
	}
	if err := unix.Statx(unix.AT_FDCWD, filepath.Dir(p), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &px); err != nil {
		return false, nil
	}
	return sx.Mnt_id != px.Mnt_id, nil
}
