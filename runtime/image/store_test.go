package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/internal/roottest"
)

func TestParseReference(t *testing.T) {
	dg := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"nginx:1.25", "docker.io/library/nginx:1.25"},
		{"library/nginx", "docker.io/library/nginx:latest"},
		{"docker.io/nginx", "docker.io/library/nginx:latest"},
		{"index.docker.io/library/nginx:1", "docker.io/library/nginx:1"},
		{"bitnami/redis:7", "docker.io/bitnami/redis:7"},
		{"quay.io/coreos/etcd", "quay.io/coreos/etcd:latest"},
		{"localhost:5000/app:v2", "localhost:5000/app:v2"},
		{"127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest"},
		{"nginx@" + dg, "docker.io/library/nginx@" + dg},
		{"nginx:1.25@" + dg, "docker.io/library/nginx@" + dg},
		{"Nginx", "error"},
		{"nginx:", "error"},
		{"nginx@sha256:abc", "error"},
	} {
		got, err := Normalize(tc.in)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q (err %v)", tc.in, got, tc.want, err)
		}
	}
	for in, want := range map[string]bool{"nginx": true, "nginx:latest": true, "nginx:1": false, "nginx@" + dg: false} {
		if got := IsLatest(in); got != want {
			t.Errorf("IsLatest(%q) = %v, want %v", in, got, want)
		}
	}
}

// tree lists a directory as "path mode uid:gid [-> link | = body | dev]" lines, for literal comparison.
func tree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		switch fi.Mode().Type() {
		case os.ModeSymlink:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case 0:
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" = %q nlink=%d", b, st.Nlink)
		case os.ModeDevice | os.ModeCharDevice:
			line += fmt.Sprintf(" dev=%d/%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if v, err := getxattr(p, "trusted.overlay.opaque"); err == nil {
			line += " opaque=" + v
		}
		if v, err := getxattr(p, "user.podnet"); err == nil {
			line += " user.podnet=" + v
		}
		if _, err := getxattr(p, "trusted.overlay.redirect"); err == nil {
			line += " FORGED-REDIRECT"
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func getxattr(p, attr string) (string, error) {
	b := make([]byte, 256)
	n, err := unix.Lgetxattr(p, attr, b)
	if err != nil {
		return "", err
	}
	return string(b[:n]), nil
}

func TestPullUnpacksLayers(t *testing.T) {
	roottest.NeedRoot(t) // ownership and trusted.overlay.opaque need root
	host := startRegistry(t)
	push(t, host+"/test/app:v1", testImage(t, v1.Config{Cmd: []string{"sh"}}, baseLayer(t), topLayer(t)))
	s := openStore(t)
	var reports []string
	img, err := s.Pull(ctx(t), host+"/test/app:v1", func(p Progress) {
		if p.Ref != host+"/test/app:v1" {
			t.Errorf("progress for ref %q", p.Ref)
		}
		reports = append(reports, fmt.Sprintf("%s %d/%d", p.Status, p.Current, p.Total))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 2 {
		t.Fatalf("layers %v", img.Layers)
	}
	wantBase := []string{
		"a 40755 0:0",
		`a/gone 100644 0:0 = "whited out" nlink=1`,
		`a/keep 100644 0:0 = "kept" nlink=2`,
		`attr 100600 0:0 = "x" nlink=1 user.podnet=yes`,
		"d 40755 0:0",
		`d/old 100644 0:0 = "hidden by opaque" nlink=1`,
		`hl 100644 0:0 = "kept" nlink=2`,
		"lnk 120777 0:0 -> /a/keep",
		"ro 40555 0:0",
		`ro/inside 100644 0:0 = "in a read-only dir" nlink=1`,
		`suid 104755 1000:1001 = "#!" nlink=1`,
	}
	if diff := cmp.Diff(wantBase, tree(t, img.Layers[0])); diff != "" {
		t.Errorf("base layer (-want +got):\n%s", diff)
	}
	wantTop := []string{
		"a 40755 0:0",
		"a/gone 20000 0:0 dev=0/0",
		"d 40755 0:0 opaque=y",
		`d/new 100644 0:0 = "new" nlink=1`,
		`top 100644 0:0 = "top" nlink=1`,
	}
	if diff := cmp.Diff(wantTop, tree(t, img.Layers[1])); diff != "" {
		t.Errorf("top layer (-want +got):\n%s", diff)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(img.Layers[0], "a/keep"), &st); err != nil || st.Mtim.Sec != testTime.Unix() {
		t.Errorf("mtime of a/keep = %v (%v), want %v", st.Mtim.Sec, err, testTime.Unix())
	}
	// Two layers, each reported as started, finished downloading, complete.
	var want []string
	for _, l := range []v1.Layer{baseLayer(t), topLayer(t)} {
		size, _ := l.Size()
		want = append(want, fmt.Sprintf("Downloading 0/%d", size), fmt.Sprintf("Downloading %d/%d", size, size), fmt.Sprintf("Pull complete %d/%d", size, size))
	}
	slices.Sort(want)
	slices.Sort(reports)
	reports = slices.Compact(reports)
	if diff := cmp.Diff(want, reports); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	if !slices.Equal(img.Config.Cmd, []string{"sh"}) || img.RepoTags[0] != host+"/test/app:v1" || len(img.RepoDigests) != 1 {
		t.Errorf("image %+v", img)
	}
}

func TestPullDedupAndDigest(t *testing.T) {
	host := startRegistry(t)
	base := layer(t, file("base", "shared"))
	d1 := push(t, host+"/one:latest", testImage(t, v1.Config{}, base, layer(t, file("one", "1"))))
	push(t, host+"/two:latest", testImage(t, v1.Config{}, base, layer(t, file("two", "2"))))
	s := openStore(t)
	one, err := s.Pull(ctx(t), host+"/one", nil)
	if err != nil {
		t.Fatal(err)
	}
	var before, after unix.Stat_t
	if err := unix.Stat(one.Layers[0], &before); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	two, err := s.Pull(ctx(t), host+"/two", func(p Progress) {
		if p.Status != StatusDownloading {
			statuses = append(statuses, string(p.Status))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(two.Layers[0], &after); err != nil {
		t.Fatal(err)
	}
	if two.Layers[0] != one.Layers[0] || before.Ino != after.Ino {
		t.Errorf("shared layer unpacked again: %s (ino %d) vs %s (ino %d)", one.Layers[0], before.Ino, two.Layers[0], after.Ino)
	}
	if diff := cmp.Diff([]string{"Already exists", "Pull complete"}, statuses); diff != "" {
		t.Errorf("statuses of the second pull (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), "layers"))
	if len(entries) != 3 {
		t.Errorf("%d layer dirs, want 3", len(entries))
	}

	// By digest: the same image, one more repo digest, no new tag; Get finds it by that digest.
	byDigest, err := s.Pull(ctx(t), host+"/one@"+d1.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if byDigest.ID != one.ID {
		t.Errorf("pull by digest gave %s, by tag %s", byDigest.ID, one.ID)
	}
	got, err := s.Get(host + "/one@" + d1.String())
	if err != nil || got.ID != one.ID {
		t.Fatalf("Get by digest: %v %v", got, err)
	}
	if diff := cmp.Diff([]string{host + "/one:latest"}, got.RepoTags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{host + "/one@" + d1.String()}, got.RepoDigests); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
	if got, err := s.Get(strings.TrimPrefix(one.ID, "sha256:")[:12]); err != nil || got.ID != one.ID {
		t.Errorf("Get by short ID: %v %v", got, err)
	}
}

func TestPullMovesTag(t *testing.T) {
	host := startRegistry(t)
	s := openStore(t)
	push(t, host+"/app:v1", testImage(t, v1.Config{}, layer(t, file("v", "1"))))
	old, err := s.Pull(ctx(t), host+"/app:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	push(t, host+"/app:v1", testImage(t, v1.Config{}, layer(t, file("v", "2"))))
	cur, err := s.Pull(ctx(t), host+"/app:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(host + "/app:v1"); got == nil || got.ID != cur.ID || got.ID == old.ID {
		t.Fatalf("tag points at %v, want %s", got, cur.ID)
	}
	dangling, err := s.Get(old.ID)
	if err != nil || len(dangling.RepoTags) != 0 {
		t.Errorf("old image: %+v %v, want it kept untagged", dangling, err)
	}
}

func TestPullErrors(t *testing.T) {
	host := startRegistry(t)
	s := openStore(t)
	// Nothing listens on a port we just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		ref         string
		unreachable bool
	}{
		{dead + "/app:v1", true},
		{"podnet-no-such-host.invalid/app:v1", true},
		{host + "/missing:v1", false},
	} {
		_, err := s.Pull(ctx(t), tc.ref, nil)
		if err == nil {
			t.Errorf("pull %s succeeded", tc.ref)
			continue
		}
		if got := errors.Is(err, ErrRegistryUnreachable); got != tc.unreachable {
			t.Errorf("pull %s: errors.Is(ErrRegistryUnreachable) = %v, want %v (%v)", tc.ref, got, tc.unreachable, err)
		}
	}
	if _, err := s.Get("nginx"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an absent image: %v, want ErrNotFound", err)
	}
	if err := s.Remove("nginx"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove of an absent image: %v, want ErrNotFound", err)
	}
}

func TestUnpackRefusesEscapes(t *testing.T) {
	for name, entries := range map[string][]entry{
		"dotdot":            {file("../evil", "x")},
		"through symlink":   {{name: "lnk", typ: tar.TypeSymlink, link: "/tmp"}, file("lnk/evil", "x")},
		"hardlink outside":  {{name: "hl", typ: tar.TypeLink, link: "../../etc/passwd"}},
		"hardlink via link": {{name: "lnk", typ: tar.TypeSymlink, link: "/etc"}, {name: "hl", typ: tar.TypeLink, link: "lnk/passwd"}},
	} {
		t.Run(name, func(t *testing.T) {
			outer := t.TempDir()
			dst := filepath.Join(outer, "layer")
			os.Mkdir(dst, 0o755)
			err := unpack(strings.NewReader(string(layerTar(t, entries...))), dst)
			if err == nil {
				t.Fatal("unpack succeeded")
			}
			if exists(filepath.Join(outer, "evil")) || exists(filepath.Join(dst, "hl")) {
				t.Error("something was written")
			}
		})
	}
}

func TestImportDockerArchive(t *testing.T) {
	s := openStore(t)
	p := filepath.Join(t.TempDir(), "images.tar")
	a := testImage(t, v1.Config{Entrypoint: []string{"/app"}}, layer(t, file("app", "a")))
	b := testImage(t, v1.Config{Cmd: []string{"sh"}}, layer(t, file("b", "b")), layer(t, file("c", "c")))
	if err := tarball.MultiRefWriteToFile(p, map[name.Reference]v1.Image{
		name.MustParseReference("busybox:latest"):         b,
		name.MustParseReference("example.com/app:1"):      a,
		name.MustParseReference("example.com/app:stable"): a,
	}); err != nil {
		t.Fatal(err)
	}
	imgs, err := s.Import(ctx(t), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("imported %d images", len(imgs))
	}
	checkList(t, s, []string{
		"docker.io/library/busybox:latest layers=2 cmd=[sh]",
		"example.com/app:1,example.com/app:stable layers=1 cmd=[]",
	})
	img, err := s.Get("busybox")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(img.Layers[1], "c")); err != nil || string(b) != "c" {
		t.Errorf("layer content: %q %v", b, err)
	}
	if img.Size != int64(len(layerTar(t, file("b", "b")))+len(layerTar(t, file("c", "c")))) {
		t.Errorf("size %d", img.Size)
	}
}

// checkList compares List with lines "tags layers=N cmd=[…]".
func checkList(t testing.TB, s *Store, want []string) {
	t.Helper()
	imgs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range imgs {
		got = append(got, fmt.Sprintf("%s layers=%d cmd=%v", strings.Join(img.RepoTags, ","), len(img.Layers), img.Config.Cmd))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestImportOCILayout(t *testing.T) {
	s := openStore(t)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	tagged := testImage(t, v1.Config{Cmd: []string{"tagged"}}, layer(t, file("t", "t")))
	bare := testImage(t, v1.Config{Cmd: []string{"bare"}}, layer(t, file("u", "u")))
	other := testImage(t, v1.Config{Cmd: []string{"arm"}}, layer(t, file("arm", "arm")))
	if err := lp.AppendImage(tagged, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          "docker.io/library/busybox:1.36",
		"org.opencontainers.image.ref.name": "1.36",
	})); err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(bare, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		t.Fatal(err)
	}
	// A multi-platform index: the store's platform (linux/amd64 here) is picked.
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: tagged, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "example.com/multi:2"})); err != nil {
		t.Fatal(err)
	}
	s.opts.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	p := filepath.Join(t.TempDir(), "oci.tar")
	tarDirTo(t, dir, p)
	imgs, err := s.Import(ctx(t), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 3 {
		t.Fatalf("imported %d images", len(imgs))
	}
	checkList(t, s, []string{
		"docker.io/library/busybox:1.36,example.com/multi:2 layers=1 cmd=[tagged]",
		" layers=1 cmd=[bare]",
	})
	idxDigest, _ := idx.Digest()
	img, err := s.Get("example.com/multi@" + idxDigest.String())
	if err != nil || img.Config.Cmd[0] != "tagged" {
		t.Errorf("Get by the index digest: %v %v", img, err)
	}
}

func tarDirTo(t testing.TB, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRemove(t *testing.T) {
	s := openStore(t)
	shared := layer(t, file("shared", "s"))
	a := testImage(t, v1.Config{Cmd: []string{"a"}}, shared, layer(t, file("a", "a")))
	b := testImage(t, v1.Config{Cmd: []string{"b"}}, shared)
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := tarball.MultiRefWriteToFile(p, map[name.Reference]v1.Image{
		name.MustParseReference("a:1"): a, name.MustParseReference("a:2"): a, name.MustParseReference("b"): b,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	imgA, _ := s.Get("a:1")
	layerDirs := func() int { e, _ := os.ReadDir(filepath.Join(s.Dir(), "layers")); return len(e) }

	if err := s.Remove("a:1"); err != nil {
		t.Fatal(err)
	}
	checkList(t, s, []string{"docker.io/library/a:2 layers=2 cmd=[a]", "docker.io/library/b:latest layers=1 cmd=[b]"})
	if layerDirs() != 2 {
		t.Errorf("%d layer dirs after dropping one of two tags", layerDirs())
	}
	if err := s.Remove("docker.io/library/a:2"); err != nil {
		t.Fatal(err)
	}
	checkList(t, s, []string{"docker.io/library/b:latest layers=1 cmd=[b]"})
	if layerDirs() != 1 || !exists(filepath.Dir(imgA.Layers[0])) || exists(filepath.Dir(imgA.Layers[1])) {
		t.Errorf("after removing a: %d layer dirs; the shared one must stay, a's own must go", layerDirs())
	}
	if exists(s.configPath(imgA.ID)) {
		t.Error("config of a removed image left behind")
	}
	imgB, _ := s.Get("b")
	if err := s.Remove(imgB.ID[7:19]); err != nil { // by short ID
		t.Fatal(err)
	}
	checkList(t, s, nil)
	if layerDirs() != 0 {
		t.Errorf("%d layer dirs left", layerDirs())
	}
	if e, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(e) != 0 {
		t.Errorf("tmp not empty: %v", e)
	}
}

func TestReopenAndLeftovers(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := tarball.WriteToFile(p, name.MustParseReference("x:1"), testImage(t, v1.Config{}, layer(t, file("x", "x")))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	// A second store on the same directory (another process, as far as the files go) sees it.
	other, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get("x:1"); err != nil {
		t.Errorf("second store: %v", err)
	}
	if err := other.Remove("x:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("x:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("first store still sees a removed image: %v", err)
	}
	other.Close()
	s.Close()
	// A half-unpacked layer of a dead process, and one of a live one (ours).
	dead := filepath.Join(dir, "tmp", "999999999-layer-1")
	live := filepath.Join(dir, "tmp", fmt.Sprintf("%d-layer-1", os.Getpid()))
	for _, d := range []string{dead, live} {
		if err := os.MkdirAll(filepath.Join(d, "fs"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if exists(dead) || !exists(live) {
		t.Errorf("after Open: dead leftover exists=%v, live work exists=%v", exists(dead), exists(live))
	}
}
