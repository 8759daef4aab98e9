package netplug

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

func TestStoreAllocate(t *testing.T) {
	pfx := netip.MustParsePrefix("10.0.0.0/29") // hosts .1-.6, gateway .1
	gw := netip.MustParseAddr("10.0.0.1")
	s, err := OpenStore(t.TempDir(), "net")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range 5 {
		ip, err := s.Allocate(pfx, gw, Owner{fmt.Sprint("c", i), "eth0"})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip.String())
	}
	if want := "[10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6]"; fmt.Sprint(got) != want {
		t.Fatalf("allocated %v, want %s", got, want)
	}
	// Same owner: same address.
	if ip, _ := s.Allocate(pfx, gw, Owner{"c2", "eth0"}); ip.String() != "10.0.0.4" {
		t.Fatalf("re-allocate c2 = %s", ip)
	}
	if _, err := s.Allocate(pfx, gw, Owner{"full", "eth0"}); !errors.Is(err, ErrRangeFull) {
		t.Fatalf("err = %v, want ErrRangeFull", err)
	}
	if n, _ := s.Free(pfx, gw); n != 0 {
		t.Fatalf("free = %d", n)
	}
	// Release then wrap: the next after the last (.6) is .2 again.
	if err := s.Release(Owner{"c0", "eth0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(Owner{"c0", "eth0"}); err != nil {
		t.Fatal("second release:", err)
	}
	if ip, _ := s.Allocate(pfx, gw, Owner{"c9", "eth0"}); ip.String() != "10.0.0.2" {
		t.Fatalf("wrapped allocation = %s", ip)
	}
	// Reopen: persistent.
	s2, _ := OpenStore(s.dir[:len(s.dir)-len("/net")], "net")
	dropped, err := s2.Retain(func(o Owner) bool { return o.ContainerID != "c3" && o.ContainerID != "c9" })
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

func TestStoreConcurrent(t *testing.T) {
	pfx := netip.MustParsePrefix("10.0.0.0/24")
	gw := netip.MustParseAddr("10.0.0.1")
	dir := t.TempDir()
	var wg sync.WaitGroup
	ips := make([]netip.Addr, 100)
	for i := range ips {
		wg.Go(func() {
			s, err := OpenStore(dir, "net")
			if err == nil {
				ips[i], err = s.Allocate(pfx, gw, Owner{fmt.Sprint(i), "eth0"})
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
