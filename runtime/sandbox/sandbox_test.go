package sandbox

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/cni"
	"github.com/podnet/podnet/internal/roottest"
)

// fakeNet records CNI calls and checks that the netns it is given is a real, pinned one.
type fakeNet struct {
	t      *testing.T
	addErr error
	calls  []string
}

func (f *fakeNet) Add(_ context.Context, a cni.Attachment) (*cni.Result, error) {
	f.calls = append(f.calls, "ADD "+a.PodNamespace+"/"+a.PodName+" "+filepath.Base(a.NetNS))
	var st unix.Statfs_t
	if err := unix.Statfs(a.NetNS, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		f.t.Errorf("ADD got %s, not a pinned namespace (statfs type %#x, %v)", a.NetNS, st.Type, err)
	}
	if f.addErr != nil {
		return nil, f.addErr
	}
	return &cni.Result{IPs: []netip.Prefix{netip.MustParsePrefix("10.244.0.7/24")}}, nil
}

func (f *fakeNet) Del(_ context.Context, a cni.Attachment) error {
	f.calls = append(f.calls, "DEL "+a.PodNamespace+"/"+a.PodName)
	return nil
}

func newManager(t *testing.T, n Network) (*Manager, string) {
	dir := t.TempDir()
	m, err := New(Config{Dir: dir, Network: n, Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return m, dir
}

// inNS reads the hostname and the loopback state inside a pinned sandbox.
func hostnameIn(t *testing.T, sb *Sandbox) string {
	t.Helper()
	type res struct {
		name string
		err  error
	}
	c := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves our UTS namespace
		f, err := os.Open(sb.UTSNS())
		if err != nil {
			c <- res{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWUTS); err != nil {
			c <- res{err: err}
			return
		}
		var u unix.Utsname
		err = unix.Uname(&u)
		c <- res{name: unix.ByteSliceToString(u.Nodename[:]), err: err}
	}()
	r := <-c
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.name
}

func mounted(t *testing.T, under string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], under) {
			out = append(out, f[4])
		}
	}
	return out
}

func TestCreateRemove(t *testing.T) {
	roottest.NeedRoot(t)
	n := &fakeNet{t: t}
	m, dir := newManager(t, n)
	ctx := context.Background()
	sb, err := m.Create(ctx, Spec{PodUID: "uid-1", Namespace: "default", Name: "web", Hostname: "web-host"})
	if err != nil {
		t.Fatal(err)
	}
	if got := hostnameIn(t, sb); got != "web-host" {
		t.Errorf("hostname in sandbox = %q, want web-host", got)
	}
	if got := len(mounted(t, dir)); got != 3 {
		t.Errorf("%d pinned namespaces, want 3", got)
	}
	if err := sb.WriteFiles(map[string][]byte{"hostname": []byte("web-host\n")}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Get("uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Ready || got.ID != sb.ID || len(got.IPs) != 1 || got.IPs[0].String() != "10.244.0.7" {
		t.Errorf("record = %+v", got.Record)
	}
	if _, err := m.Create(ctx, Spec{PodUID: "uid-1"}); err == nil {
		t.Error("second Create for the same pod succeeded")
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := m.Remove(ctx, "uid-1"); err != nil {
			t.Fatalf("remove %d: %v", i, err)
		}
	}
	if left := mounted(t, dir); len(left) != 0 {
		t.Errorf("mounts left: %v", left)
	}
	if _, err := m.Get("uid-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
	want := "ADD default/web net|DEL default/web"
	if got := strings.Join(n.calls, "|"); got != want {
		t.Errorf("CNI calls %q, want %q (the second Remove finds nothing to DEL)", got, want)
	}
}

func TestCreateRollsBack(t *testing.T) {
	roottest.NeedRoot(t)
	n := &fakeNet{t: t, addErr: errors.New("range full")}
	m, dir := newManager(t, n)
	_, err := m.Create(context.Background(), Spec{PodUID: "uid-2", Namespace: "ns", Name: "p"})
	if err == nil || !strings.Contains(err.Error(), "range full") {
		t.Fatalf("Create err = %v", err)
	}
	if left := mounted(t, dir); len(left) != 0 {
		t.Errorf("mounts left: %v", left)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("dir not empty: %v", ents)
	}
	// The failed ADD is followed by a DEL: the plugin may have made part of the attachment.
	if got, want := strings.Join(n.calls, "|"), "ADD ns/p net|DEL ns/p"; got != want {
		t.Errorf("CNI calls %q, want %q", got, want)
	}
}

// A crash after the record but before the ADD finished leaves an unready sandbox that List shows
// and Remove cleans up, DEL included.
func TestListAndRemoveUnfinished(t *testing.T) {
	roottest.NeedRoot(t)
	n := &fakeNet{t: t}
	m, dir := newManager(t, n)
	sb, err := m.Create(context.Background(), Spec{PodUID: "uid-3", Namespace: "ns", Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	sb.Ready = false
	if err := writeRecord(sb.Dir, &sb.Record); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "uid-4"), 0o755); err != nil { // crash before any record
		t.Fatal(err)
	}
	all, err := m.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range all {
		got = append(got, s.PodUID+":"+map[bool]string{true: "ready", false: "unfinished"}[s.Ready])
	}
	if strings.Join(got, ",") != "uid-3:unfinished,uid-4:unfinished" {
		t.Errorf("List = %v", got)
	}
	for _, s := range all {
		if err := m.Remove(context.Background(), s.PodUID); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 || len(mounted(t, dir)) != 0 {
		t.Errorf("left: %v %v", ents, mounted(t, dir))
	}
}
