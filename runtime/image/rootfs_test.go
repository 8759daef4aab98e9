package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/podnet/podnet/internal/roottest"
)

func TestMountRootfs(t *testing.T) {
	roottest.NeedRoot(t)
	s := openStore(t)
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := tarball.MultiRefWriteToFile(p, map[name.Reference]v1.Image{
		name.MustParseReference("two:1"): testImage(t, v1.Config{}, baseLayer(t), topLayer(t)),
		name.MustParseReference("one:1"): testImage(t, v1.Config{}, layer(t, file("only", "1"))),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, image string
		fsconfig    bool
		visible     []string
		hidden      []string
	}{
		{"whiteouts", "two:1", false, []string{"a/keep", "d/new", "top", "lnk", "ro/inside"}, []string{"a/gone", "d/old"}},
		{"whiteouts through fsconfig", "two:1", true, []string{"a/keep", "d/new", "top"}, []string{"a/gone", "d/old"}},
		{"one layer", "one:1", false, []string{"only"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fsconfig {
				saved := maxMountData
				maxMountData = 0
				t.Cleanup(func() { maxMountData = saved })
			}
			img, err := s.Get(tc.image)
			if err != nil {
				t.Fatal(err)
			}
			cdir := filepath.Join(t.TempDir(), "c")
			rootfs, err := MountRootfs(img, cdir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { UnmountRootfs(cdir) })
			if rootfs != filepath.Join(cdir, "rootfs") || !inMountinfo(t, rootfs) {
				t.Fatalf("rootfs %s not mounted", rootfs)
			}
			if again, err := MountRootfs(img, cdir); err != nil || again != rootfs || countInMountinfo(t, rootfs) != 1 {
				t.Errorf("second MountRootfs: %v, %d mounts", err, countInMountinfo(t, rootfs))
			}
			for _, f := range tc.visible {
				if _, err := os.Lstat(filepath.Join(rootfs, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
			for _, f := range tc.hidden {
				if _, err := os.Lstat(filepath.Join(rootfs, f)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s visible (%v), want it hidden", f, err)
				}
			}
			// Writes land in upper/, never in a layer.
			if err := os.WriteFile(filepath.Join(rootfs, "written"), []byte("w"), 0o644); err != nil {
				t.Fatal(err)
			}
			if !exists(filepath.Join(cdir, "upper", "written")) {
				t.Error("write did not land in upper/")
			}
			for _, l := range img.Layers {
				if exists(filepath.Join(l, "written")) {
					t.Errorf("write landed in layer %s", l)
				}
			}
			if err := UnmountRootfs(cdir); err != nil {
				t.Fatal(err)
			}
			if inMountinfo(t, rootfs) {
				t.Error("still mounted")
			}
			for _, d := range []string{"rootfs", "upper", "work"} {
				if exists(filepath.Join(cdir, d)) {
					t.Errorf("%s left behind", d)
				}
			}
			if err := UnmountRootfs(cdir); err != nil {
				t.Errorf("second UnmountRootfs: %v", err)
			}
			if err := UnmountRootfs(filepath.Join(cdir, "missing")); err != nil {
				t.Errorf("UnmountRootfs of a missing dir: %v", err)
			}
		})
	}
}

func countInMountinfo(t testing.TB, p string) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			n++
		}
	}
	return n
}

func inMountinfo(t testing.TB, p string) bool { return countInMountinfo(t, p) > 0 }
