package dns

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestUpstreamsFromResolvConf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	systemd := write("systemd", "# real\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org\n")
	tests := []struct {
		name, conf, systemd, want string
	}{
		{"plain", "nameserver 192.0.2.1\noptions ndots:5\nnameserver fe80::1%eth0\n", systemd, "[192.0.2.1:53 [fe80::1]:53]"},
		{"stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n", systemd, "[192.0.2.53:53 [2001:db8::53]:53]"},
		{"stub without systemd", "nameserver 127.0.0.53\n", filepath.Join(dir, "absent"), "error"},
		{"empty", "# nothing\n", systemd, "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := upstreamsFrom(write(tc.name, tc.conf), tc.systemd)
			s := fmt.Sprint(got)
			if err != nil {
				s = "error"
			}
			if s != tc.want {
				t.Errorf("got %s (%v), want %s", s, err, tc.want)
			}
		})
	}
}

func TestWithoutSelf(t *testing.T) {
	ups := []netip.AddrPort{netip.MustParseAddrPort("10.96.0.10:53"), netip.MustParseAddrPort("192.0.2.1:53"),
		netip.MustParseAddrPort("127.0.0.1:53"), netip.MustParseAddrPort("192.0.2.1:5353"), netip.MustParseAddrPort("198.51.100.1:53")}
	got := withoutSelf(ups, []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:53")}, []netip.Addr{netip.MustParseAddr("192.0.2.1")},
		netip.MustParseAddr("10.96.0.10"))
	if fmt.Sprint(got) != "[192.0.2.1:5353 198.51.100.1:53]" {
		t.Errorf("got %v", got)
	}
}
