package dns

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

const soa = "ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5\n"

func TestAnswers(t *testing.T) {
	s := newTestServer(t, nil)
	tests := []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"web.default.svc.cluster.local.", mdns.TypeA, "NOERROR aa\nan web.default.svc.cluster.local. 5 IN A 10.96.0.20\n"},
		{"WEB.Default.svc.Cluster.Local.", mdns.TypeA, "NOERROR aa\nan WEB.Default.svc.Cluster.Local. 5 IN A 10.96.0.20\n"},
		{"web.default.svc.cluster.local.", mdns.TypeAAAA, "NOERROR aa\n" + soa},
		{"nope.default.svc.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"web.nons.svc.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"default.svc.cluster.local.", mdns.TypeA, "NOERROR aa\n" + soa},
		{"svc.cluster.local.", mdns.TypeA, "NOERROR aa\n" + soa},
		{"other.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"*.default.svc.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"a.b.web.default.svc.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV,
			"NOERROR aa\nan _http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.\n" +
				"ex web.default.svc.cluster.local. 5 IN A 10.96.0.20\n"},
		{"web.default.svc.cluster.local.", mdns.TypeSRV,
			"NOERROR aa\nan web.default.svc.cluster.local. 5 IN SRV 0 50 80 web.default.svc.cluster.local.\n" +
				"an web.default.svc.cluster.local. 5 IN SRV 0 50 53 web.default.svc.cluster.local.\n" +
				"ex web.default.svc.cluster.local. 5 IN A 10.96.0.20\n"},
		{"_http._udp.web.default.svc.cluster.local.", mdns.TypeSRV, "NXDOMAIN aa\n" + soa},
		{"db.default.svc.cluster.local.", mdns.TypeA,
			"NOERROR aa\nan db.default.svc.cluster.local. 5 IN A 10.244.0.8\nan db.default.svc.cluster.local. 5 IN A 10.244.0.9\n"},
		{"db-0.db.default.svc.cluster.local.", mdns.TypeA, "NOERROR aa\nan db-0.db.default.svc.cluster.local. 5 IN A 10.244.0.8\n"},
		{"10-244-0-9.db.default.svc.cluster.local.", mdns.TypeA, "NOERROR aa\nan 10-244-0-9.db.default.svc.cluster.local. 5 IN A 10.244.0.9\n"},
		{"10-244-0-10.db.default.svc.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"10-244-0-5.web.default.svc.cluster.local.", mdns.TypeA, "NOERROR aa\nan 10-244-0-5.web.default.svc.cluster.local. 5 IN A 10.244.0.5\n"},
		{"_sql._tcp.db.default.svc.cluster.local.", mdns.TypeSRV,
			"NOERROR aa\nan _sql._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 db-0.db.default.svc.cluster.local.\n" +
				"an _sql._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 10-244-0-9.db.default.svc.cluster.local.\n" +
				"ex db-0.db.default.svc.cluster.local. 5 IN A 10.244.0.8\nex 10-244-0-9.db.default.svc.cluster.local. 5 IN A 10.244.0.9\n"},
		{"empty.default.svc.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"ext.default.svc.cluster.local.", mdns.TypeCNAME, "NOERROR aa\nan ext.default.svc.cluster.local. 5 IN CNAME example.org.\n"},
		{"ext.default.svc.cluster.local.", mdns.TypeA, "NOERROR aa\nan ext.default.svc.cluster.local. 5 IN CNAME example.org.\n"},
		{"alias.default.svc.cluster.local.", mdns.TypeA,
			"NOERROR aa\nan alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.\nan web.default.svc.cluster.local. 5 IN A 10.96.0.20\n"},
		{"ext.default.svc.cluster.local.", mdns.TypeSRV, "NOERROR aa\n" + soa},
		{"ext.default.svc.cluster.local.", mdns.TypeTXT, "NOERROR aa\n" + soa},
		{"dns-version.cluster.local.", mdns.TypeTXT, "NOERROR aa\nan dns-version.cluster.local. 28800 IN TXT \"1.1.0\"\n"},
		{"cluster.local.", mdns.TypeTXT, "NXDOMAIN aa\n" + soa},
		{"20.0.96.10.in-addr.arpa.", mdns.TypePTR, "NOERROR aa\nan 20.0.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local.\n"},
		{"8.0.244.10.in-addr.arpa.", mdns.TypePTR, "NOERROR aa\nan 8.0.244.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local.\n"},
		{"9.0.244.10.in-addr.arpa.", mdns.TypePTR, "NOERROR aa\nan 9.0.244.10.in-addr.arpa. 5 IN PTR 10-244-0-9.db.default.svc.cluster.local.\n"},
		{"99.0.244.10.in-addr.arpa.", mdns.TypePTR, "SERVFAIL\n"}, // fell through to forwarding, which is off
		{"10-244-0-7.default.pod.cluster.local.", mdns.TypeA, "NOERROR aa\nan 10-244-0-7.default.pod.cluster.local. 5 IN A 10.244.0.7\n"},
		{"10-244-0-7.kube-system.pod.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"10-244-0-99.default.pod.cluster.local.", mdns.TypeA, "NXDOMAIN aa\n" + soa},
		{"cluster.local.", mdns.TypeSOA, "NOERROR aa\nan " + soa[3:]},
		{"web.default.svc.cluster.local.", mdns.TypeSOA, "NOERROR aa\n" + soa},
		{"cluster.local.", mdns.TypeNS,
			"NOERROR aa\nan cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local.\nex kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10\n"},
		{"cluster.local.", mdns.TypeA, "NOERROR aa\n" + soa},
		{"web.default.svc.cluster.local.", mdns.TypeMX, "NOERROR aa\n" + soa},
		{"nope.default.svc.cluster.local.", mdns.TypeHINFO, "NXDOMAIN aa\n" + soa},
		{"cluster.local.", mdns.TypeAXFR, "REFUSED\n"},
		{"example.org.", mdns.TypeA, "SERVFAIL\n"},
	}
	for _, tc := range tests {
		t.Run(mdns.TypeToString[tc.qtype]+" "+tc.name, func(t *testing.T) {
			if got := render(s.Answer(query(tc.name, tc.qtype))); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestUnsyncedAndLocalReverse: before the index is synced a name error is SERVFAIL; reverse
// names inside configured CIDRs are answered NXDOMAIN instead of being forwarded.
func TestUnsyncedAndLocalReverse(t *testing.T) {
	s := newTestServer(t, nil)
	s.index.write(func() { s.index.synced = false })
	if got := render(s.Answer(query("nope.default.svc.cluster.local.", mdns.TypeA))); got != "SERVFAIL aa\n"+soa {
		t.Errorf("unsynced: got\n%s", got)
	}
	s.index.MarkSynced()
	s.cfg.PodCIDRs = nil
	s2 := newTestServer(t, func(c *Config) { c.PodCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")} })
	want := "NXDOMAIN aa\nns in-addr.arpa. 5 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 1700000000 7200 1800 86400 5\n"
	if got := render(s2.Answer(query("99.0.244.10.in-addr.arpa.", mdns.TypePTR))); got != want {
		t.Errorf("local reverse: got\n%s\nwant\n%s", got, want)
	}
}
