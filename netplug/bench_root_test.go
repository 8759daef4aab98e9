package netplug

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
)

// BenchmarkAddDel measures ADD and DEL through libcni, in one run, for
// netplug and for Debian's reference bridge + host-local plugins (both with
// masquerade on), reporting p50 and p99 in ms. Each op is one ADD + one DEL.
func BenchmarkAddDel(b *testing.B) {
	for _, tc := range []struct{ name, conf string }{
		{"netplug", ""},
		{"reference", `{"cniVersion":"1.0.0","name":"ref","plugins":[{"type":"bridge","bridge":"refbr0","isGateway":true,"ipMasq":true,"hairpinMode":true,
			"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.245.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}]}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			n := newNode(b, "")
			dirs := []string{pluginDir}
			if tc.conf != "" {
				if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
					b.Skip("reference plugins not installed:", err)
				}
				dirs = append(dirs, "/usr/lib/cni")
				var err error
				if n.list, err = libcni.ConfListFromBytes([]byte(fmt.Sprintf(tc.conf, b.TempDir()))); err != nil {
					b.Fatal(err)
				}
			}
			pod := newNS(b)
			var adds, dels []time.Duration
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprint("bench", i)
				s := time.Now()
				if _, err := n.addWith(dirs, id, pod); err != nil {
					b.Fatal(err)
				}
				adds = append(adds, time.Since(s))
				s = time.Now()
				if err := n.delWith(dirs, id, pod.Path()); err != nil {
					b.Fatal(err)
				}
				dels = append(dels, time.Since(s))
			}
			b.ReportMetric(pct(adds, 50), "add-p50-ms")
			b.ReportMetric(pct(adds, 99), "add-p99-ms")
			b.ReportMetric(pct(dels, 50), "del-p50-ms")
			b.ReportMetric(pct(dels, 99), "del-p99-ms")
		})
	}
}

func pct(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Microseconds()) / 1000
}
