package netplug

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustRange(t testing.TB, rc RangeConf) Range {
	t.Helper()
	r, err := parseRange(rc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStoreAllocate(t *testing.T) {
	rng := mustRange(t, RangeConf{Subnet: "10.0.0.0/29"}) // hosts .1-.6, gateway .1
	v4 := []Range{rng}
	s, err := OpenStore(t.TempDir(), "net")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range 5 {
		ips, err := s.Allocate(v4, Owner{fmt.Sprint("c", i), "eth0"})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ips[0].String())
	}
	if want := "[10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6]"; fmt.Sprint(got) != want {
		t.Fatalf("allocated %v, want %s", got, want)
	}
	// Same owner: same address.
	if ips, _ := s.Allocate(v4, Owner{"c2", "eth0"}); fmt.Sprint(ips) != "[10.0.0.4]" {
		t.Fatalf("re-allocate c2 = %s", ips)
	}
	if _, err := s.Allocate(v4, Owner{"full", "eth0"}); !errors.Is(err, ErrRangeFull) {
		t.Fatalf("err = %v, want ErrRangeFull", err)
	}
	if n, _ := s.Free(rng); n != 0 {
		t.Fatalf("free = %d", n)
	}
	// Release then wrap: the next after the last (.6) is .2 again.
	if err := s.Release(Owner{"c0", "eth0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(Owner{"c0", "eth0"}); err != nil {
		t.Fatal("second release:", err)
	}
	if ips, _ := s.Allocate(v4, Owner{"c9", "eth0"}); fmt.Sprint(ips) != "[10.0.0.2]" {
		t.Fatalf("wrapped allocation = %s", ips)
	}
	// Reopen: persistent.
	s2, _ := OpenStore(s.dir[:len(s.dir)-len("/net")], "net")
	dropped, err := s2.Retain(func(o Owner) bool { return o.ContainerID != "c3" && o.ContainerID != "c9" }, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[{10.0.0.2 {c9 eth0}} {10.0.0.5 {c3 eth0}}]"; fmt.Sprint(dropped) != want {
		t.Fatalf("dropped %v, want %s", dropped, want)
	}
	all, _ := s2.List()
	if want := "[{10.0.0.3 {c1 eth0}} {10.0.0.4 {c2 eth0}} {10.0.0.6 {c4 eth0}}]"; fmt.Sprint(all) != want {
		t.Fatalf("list %v, want %s", all, want)
	}
}

// Dual-stack: one address per range, in the ranges' order, all or nothing; rangeStart and
// rangeEnd bound what is handed out.
func TestStoreAllocateDualStack(t *testing.T) {
	v4 := mustRange(t, RangeConf{Subnet: "10.0.0.0/24", RangeStart: "10.0.0.10"})
	v6 := mustRange(t, RangeConf{Subnet: "fd00::/64", RangeStart: "fd00::ff", RangeEnd: "fd00::100"})
	s, err := OpenStore(t.TempDir(), "net")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range []string{"a", "b", "a"} {
		ips, err := s.Allocate([]Range{v4, v6}, Owner{id, "eth0"})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(ips))
	}
	if want := "[10.0.0.10 fd00::ff] [10.0.0.11 fd00::100] [10.0.0.10 fd00::ff]"; strings.Join(got, " ") != want {
		t.Fatalf("allocated %s\nwant      %s", strings.Join(got, " "), want)
	}
	if _, err := s.Allocate([]Range{v4, v6}, Owner{"c", "eth0"}); !errors.Is(err, ErrRangeFull) {
		t.Fatalf("third v6 address: err = %v, want ErrRangeFull", err)
	}
	all, _ := s.List()
	if want := "[{10.0.0.10 {a eth0}} {10.0.0.11 {b eth0}} {fd00::ff {a eth0}} {fd00::100 {b eth0}}]"; fmt.Sprint(all) != want {
		t.Fatalf("a full v6 range must leave no v4 reservation: %v", all)
	}
	if n, _ := s.Free(v4); n != 243 { // .10-.254 but the gateway .1 is outside: 245 - 2
		t.Fatalf("free v4 = %d", n)
	}
	if n, _ := s.Free(mustRange(t, RangeConf{Subnet: "fd01::/64"})); n != math.MaxInt {
		t.Fatalf("free in a /64 = %d, want MaxInt", n)
	}
	if addrs, _ := s.Addrs(Owner{"b", "eth0"}); fmt.Sprint(addrs) != "[10.0.0.11 fd00::100]" {
		t.Fatalf("Addrs(b) = %v", addrs)
	}
}

// A store written before creation times and per-range last addresses still works: the
// old "last" goes on, the old reservations count as old.
func TestStoreReadsOldFormat(t *testing.T) {
	s, err := OpenStore(t.TempDir(), "net")
	if err != nil {
		t.Fatal(err)
	}
	old := `{"last":"10.0.0.5","reservations":{"10.0.0.5":{"id":"x","ifname":"eth0"}}}`
	if err := os.WriteFile(s.path(), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	ips, err := s.Allocate([]Range{mustRange(t, RangeConf{Subnet: "10.0.0.0/24"})}, Owner{"y", "eth0"})
	if err != nil || fmt.Sprint(ips) != "[10.0.0.6]" {
		t.Fatalf("Allocate = %v, %v; want [10.0.0.6]", ips, err)
	}
	dropped, err := s.Retain(func(o Owner) bool { return o.ContainerID == "y" }, time.Hour)
	if err != nil || fmt.Sprint(dropped) != "[{10.0.0.5 {x eth0}}]" {
		t.Fatalf("Retain = %v, %v", dropped, err)
	}
}

// GC's grace period: a reservation missing from the valid list survives while it is younger
// than the grace period (its ADD may have started after the list was made).
func TestStoreRetainGrace(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	s, err := OpenStore(t.TempDir(), "net")
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	v4 := []Range{mustRange(t, RangeConf{Subnet: "10.0.0.0/24"})}
	if _, err := s.Allocate(v4, Owner{"old", "eth0"}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(50 * time.Second)
	if _, err := s.Allocate(v4, Owner{"new", "eth0"}); err != nil {
		t.Fatal(err)
	}
	none := func(Owner) bool { return false }
	var got []string
	for _, at := range []time.Duration{59 * time.Second, 61 * time.Second, 111 * time.Second} {
		now = t0.Add(at)
		dropped, err := s.Retain(none, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s: %v", at, dropped))
	}
	if want := "59s: [] | 1m1s: [{10.0.0.2 {old eth0}}] | 1m51s: [{10.0.0.3 {new eth0}}]"; strings.Join(got, " | ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " | "), want)
	}
}

// A temp file left by a writer killed before its rename goes with the next write, under the lock.
func TestStoreSweepsStaleTempFiles(t *testing.T) {
	s, err := OpenStore(t.TempDir(), "net")
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(s.Dir(), ".reservations-1234567")
	if err := os.WriteFile(stale, []byte(`{"reservations":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allocate([]Range{mustRange(t, RangeConf{Subnet: "10.0.0.0/24"})}, Owner{"a", "eth0"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(s.Dir())
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := fmt.Sprint(names); got != "[lock reservations.json]" {
		t.Fatalf("store dir holds %s", got)
	}
}

// The directory is fsynced after the rename, so that the new file survives a power loss.
func TestStoreSyncsDirAfterRename(t *testing.T) {
	s, err := OpenStore(t.TempDir(), "net")
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	old := syncDir
	t.Cleanup(func() { syncDir = old })
	syncDir = func(dir string) error {
		b, _ := os.ReadFile(s.path())
		synced = append(synced, fmt.Sprintf("%s holds a: %v", filepath.Base(dir), strings.Contains(string(b), `"id":"a"`)))
		return old(dir)
	}
	if _, err := s.Allocate([]Range{mustRange(t, RangeConf{Subnet: "10.0.0.0/24"})}, Owner{"a", "eth0"}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(synced); got != "[net holds a: true]" {
		t.Fatalf("directory syncs: %s", got)
	}
}

func TestStoreConcurrent(t *testing.T) {
	v4 := []Range{mustRange(t, RangeConf{Subnet: "10.0.0.0/24"})}
	dir := t.TempDir()
	var wg sync.WaitGroup
	ips := make([]netip.Addr, 100)
	for i := range ips {
		wg.Go(func() {
			s, err := OpenStore(dir, "net")
			if err == nil {
				var got []netip.Addr
				if got, err = s.Allocate(v4, Owner{fmt.Sprint(i), "eth0"}); err == nil {
					ips[i] = got[0]
				}
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		if seen[ip] || !ip.IsValid() {
			t.Fatalf("duplicate or missing %s", ip)
		}
		seen[ip] = true
	}
}
