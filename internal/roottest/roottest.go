// Package roottest is what podnet's root tests share: the rule for a missing prerequisite
// (skip, but fail under PODNET_INTEGRATION=1, which make test sets, so that CI never passes by
// skipping) and fresh network namespaces that go away with the test.
package roottest

import (
	"os"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

// Need skips t when ok is false, or fails it under PODNET_INTEGRATION=1.
func Need(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("PODNET_INTEGRATION") == "1" {
		t.Fatalf("root test needs %s (PODNET_INTEGRATION=1 forbids skipping)", what)
	}
	t.Skipf("needs %s", what)
}

// NeedRoot is Need for running as root.
func NeedRoot(t testing.TB) { t.Helper(); Need(t, os.Geteuid() == 0, "root") }

// NewNS makes a network namespace with lo up; it is unmounted when the test ends.
func NewNS(t testing.TB) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatalf("new netns: %v", err)
	}
	t.Cleanup(func() {
		n.Close()
		if _, err := os.Stat(n.Path()); os.IsNotExist(err) {
			return // the test removed it itself (a pod whose netns went before its DEL)
		}
		if err := testutils.UnmountNS(n); err != nil {
			t.Errorf("unmount netns: %v", err)
		}
	})
	if err := n.Do(func(ns.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatalf("lo up in new netns: %v", err)
	}
	return n
}
