package cni

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

func TestBinDirs(t *testing.T) {
	tests := []struct {
		name       string
		exe        string
		configured []string
		want       []string
	}{
		{"defaults after own dir", "/usr/local/bin/podnet", nil,
			[]string{"/usr/local/bin", "/opt/cni/bin", "/usr/lib/cni"}},
		{"configured replace defaults", "/srv/podnet/bin/podnet", []string{"/a", "/b/"},
			[]string{"/srv/podnet/bin", "/a", "/b"}},
		{"own dir first even when configured later", "/opt/cni/bin/podnet", []string{"/usr/lib/cni", "/opt/cni/bin", ""},
			[]string{"/opt/cni/bin", "/usr/lib/cni"}},
		{"no executable", "", nil, []string{"/opt/cni/bin", "/usr/lib/cni"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BinDirs(tt.exe, tt.configured); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("BinDirs(%q, %q) = %q, want %q", tt.exe, tt.configured, got, tt.want)
			}
		})
	}
}

const wantDefault = `{
  "cniVersion": "1.1.0",
  "name": "podnet",
  "plugins": [
    {
      "type": "netplug",
      "bridge": "podnet0",
      "subnet": "10.244.0.0/24",
      "dataDir": "/var/lib/podnet/cni/netplug",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
`

func TestDefaultConflist(t *testing.T) {
	got, err := DefaultConflist("podnet0", netip.MustParsePrefix("10.244.0.0/24"), "/var/lib/podnet/cni/netplug")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != wantDefault {
		t.Fatalf("got\n%s\nwant\n%s", got, wantDefault)
	}
}

const (
	validList = `{"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"bridge"}]}`
	validConf = `{"cniVersion":"1.0.0","name":"single","type":"ptp"}`
)

func TestNewConflistSelection(t *testing.T) {
	tests := []struct {
		name        string
		files       map[string]string // nil: conf dir does not exist
		wantFile    string
		wantName    string
		wantPlugins []string
		wantSkipped int
		wantDefault bool
	}{
		{name: "no dir: default written", files: nil,
			wantFile: DefaultConflistFile, wantName: "podnet", wantPlugins: []string{"netplug"}, wantDefault: true},
		{name: "empty dir: default written", files: map[string]string{},
			wantFile: DefaultConflistFile, wantName: "podnet", wantPlugins: []string{"netplug"}, wantDefault: true},
		{name: "only invalid files: default written, invalid ones left alone",
			files: map[string]string{
				"00-broken.conflist":    `{"cniVersion":`,
				"01-noplugins.conflist": `{"cniVersion":"1.0.0","name":"x","plugins":[]}`,
				"02-notype.conf":        `{"cniVersion":"1.0.0","name":"x"}`,
				"03-other.txt":          `{}`,
			},
			wantFile: DefaultConflistFile, wantName: "podnet", wantPlugins: []string{"netplug"}, wantSkipped: 3, wantDefault: true},
		{name: "invalid first file skipped",
			files: map[string]string{
				"00-broken.conflist": `not json`,
				"50-b.conflist":      strings.Replace(validList, "%s", "bnet", 1),
			},
			wantFile: "50-b.conflist", wantName: "bnet", wantPlugins: []string{"bridge"}, wantSkipped: 1},
		{name: "lexicographically first valid one",
			files: map[string]string{
				"20-z.conflist": strings.Replace(validList, "%s", "znet", 1),
				"10-a.conflist": strings.Replace(validList, "%s", "anet", 1),
				"99-c.json":     validConf,
			},
			wantFile: "10-a.conflist", wantName: "anet", wantPlugins: []string{"bridge"}},
		{name: "single plugin conf wrapped into a list",
			files: map[string]string{
				"05-single.conf": validConf,
				"10-a.conflist":  strings.Replace(validList, "%s", "anet", 1),
			},
			wantFile: "05-single.conf", wantName: "single", wantPlugins: []string{"ptp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			confDir := filepath.Join(root, "cni", "net.d")
			if tt.files != nil {
				if err := os.MkdirAll(confDir, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, body := range tt.files {
					if err := os.WriteFile(filepath.Join(confDir, name), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			n, err := New(Config{
				ConfDir:  confDir,
				BinDirs:  []string{"/nonexistent"},
				CacheDir: filepath.Join(root, "cni", "cache"),
				PodCIDR:  netip.MustParsePrefix("10.244.0.0/24"),
				DataDir:  "/var/lib/podnet/cni/netplug",
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := filepath.Base(n.File()); got != tt.wantFile {
				t.Errorf("file = %s, want %s", got, tt.wantFile)
			}
			if n.Name() != tt.wantName {
				t.Errorf("name = %s, want %s", n.Name(), tt.wantName)
			}
			var plugins []string
			for _, p := range n.list.Plugins {
				plugins = append(plugins, p.Network.Type)
			}
			if !reflect.DeepEqual(plugins, tt.wantPlugins) {
				t.Errorf("plugins = %q, want %q", plugins, tt.wantPlugins)
			}
			if len(n.Skipped()) != tt.wantSkipped {
				t.Errorf("skipped = %v, want %d", n.Skipped(), tt.wantSkipped)
			}
			written, err := os.ReadFile(filepath.Join(confDir, DefaultConflistFile))
			if tt.wantDefault {
				if err != nil || string(written) != wantDefault {
					t.Errorf("default conflist = %q, %v; want\n%s", written, err, wantDefault)
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("default conflist written although a valid one exists (err %v)", err)
			}
			for name, body := range tt.files {
				if b, _ := os.ReadFile(filepath.Join(confDir, name)); string(b) != body {
					t.Errorf("%s changed to %q", name, b)
				}
			}
			entries, _ := os.ReadDir(confDir)
			if len(entries) != len(tt.files)+map[bool]int{true: 1}[tt.wantDefault] {
				t.Errorf("conf dir holds %d entries, want %d (leftover temporary file?)", len(entries), len(tt.files))
			}
		})
	}
}

func TestNewRequiresDirs(t *testing.T) {
	if _, err := New(Config{CacheDir: t.TempDir()}); err == nil {
		t.Errorf("New without ConfDir succeeded")
	}
	if _, err := New(Config{ConfDir: t.TempDir()}); err == nil {
		t.Errorf("New without CacheDir succeeded")
	}
}

// fakeCNI records what the Network asks libcni.
type fakeCNI struct {
	cached *libcni.RuntimeConf
	calls  []string
	rts    []*libcni.RuntimeConf
	gc     *libcni.GCArgs
	addErr error
	result types.Result
}

func (f *fakeCNI) AddNetworkList(_ context.Context, _ *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (types.Result, error) {
	f.calls, f.rts = append(f.calls, "ADD"), append(f.rts, rt)
	return f.result, f.addErr
}
func (f *fakeCNI) CheckNetworkList(_ context.Context, _ *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	f.calls, f.rts = append(f.calls, "CHECK"), append(f.rts, rt)
	return nil
}
func (f *fakeCNI) DelNetworkList(_ context.Context, _ *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	f.calls, f.rts = append(f.calls, "DEL"), append(f.rts, rt)
	return nil
}
func (f *fakeCNI) GetNetworkListCachedConfig(*libcni.NetworkConfigList, *libcni.RuntimeConf) ([]byte, *libcni.RuntimeConf, error) {
	if f.cached == nil {
		return nil, nil, nil
	}
	return []byte("{}"), f.cached, nil
}
func (f *fakeCNI) GCNetworkList(_ context.Context, _ *libcni.NetworkConfigList, args *libcni.GCArgs) error {
	f.calls, f.gc = append(f.calls, "GC"), args
	return nil
}
func (f *fakeCNI) GetStatusNetworkList(context.Context, *libcni.NetworkConfigList) error {
	f.calls = append(f.calls, "STATUS")
	return nil
}

func fakeNetwork(t *testing.T, f *fakeCNI, find pluginFinder) *Network {
	t.Helper()
	list, err := libcni.NetworkConfFromBytes([]byte(`{"cniVersion":"1.1.0","name":"podnet","plugins":[{"type":"netplug"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return &Network{list: list, cni: f, find: find, timeout: time.Second, binDirs: []string{"/bin-a", "/bin-b"}}
}

func TestRuntimeConfAsKubeletPasses(t *testing.T) {
	iface := 1
	f := &fakeCNI{result: &types100.Result{
		CNIVersion: "1.1.0",
		Interfaces: []*types100.Interface{{Name: "pnabc"}, {Name: "eth0", Sandbox: "/run/netns/x"}},
		IPs: []*types100.IPConfig{{
			Interface: &iface,
			Address:   *mustIPNet(t, "10.244.0.7/24"),
			Gateway:   netip.MustParseAddr("10.244.0.1").AsSlice(),
		}},
	}}
	n := fakeNetwork(t, f, nil)
	a := Attachment{ContainerID: "c1", NetNS: "/run/netns/x", PodNamespace: "default", PodName: "web",
		PortMappings: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}}
	res, err := n.Add(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if got := []any{res.IPs, res.Gateways}; !reflect.DeepEqual(got, []any{
		[]netip.Prefix{netip.MustParsePrefix("10.244.0.7/24")}, []netip.Addr{netip.MustParseAddr("10.244.0.1")}}) {
		t.Errorf("result = %v", got)
	}
	if err := n.Check(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	a.PortMappings = nil
	if err := n.Del(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	// A DEL that knows neither netns nor port mappings takes them from libcni's cache.
	f.cached = &libcni.RuntimeConf{NetNS: "/run/netns/cached",
		CapabilityArgs: map[string]interface{}{"portMappings": []any{map[string]any{"hostPort": 1.0}}}}
	if err := n.Del(context.Background(), Attachment{ContainerID: "c1", PodNamespace: "default", PodName: "web"}); err != nil {
		t.Fatal(err)
	}
	want := []*libcni.RuntimeConf{
		{ContainerID: "c1", NetNS: "/run/netns/x", IfName: "eth0",
			Args:           [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", "web"}, {"K8S_POD_INFRA_CONTAINER_ID", "c1"}},
			CapabilityArgs: map[string]interface{}{"portMappings": []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}}},
	}
	want = append(want, want[0], &libcni.RuntimeConf{ContainerID: "c1", NetNS: "/run/netns/x", IfName: "eth0", Args: want[0].Args},
		&libcni.RuntimeConf{ContainerID: "c1", NetNS: "/run/netns/cached", IfName: "eth0", Args: want[0].Args,
			CapabilityArgs: map[string]interface{}{"portMappings": []any{map[string]any{"hostPort": 1.0}}}})
	if !reflect.DeepEqual(f.calls, []string{"ADD", "CHECK", "DEL", "DEL"}) || !reflect.DeepEqual(f.rts, want) {
		t.Errorf("calls %v with %+v, want ADD CHECK DEL DEL with %+v", f.calls, f.rts, want)
	}
}

func TestAddFailureRollsBack(t *testing.T) {
	f := &fakeCNI{addErr: &types.Error{Code: 11, Msg: "no addresses"}}
	n := fakeNetwork(t, f, nil)
	_, err := n.Add(context.Background(), Attachment{ContainerID: "c2", NetNS: "/x", PodNamespace: "ns", PodName: "p"})
	var cniErr *types.Error
	if !errors.As(err, &cniErr) || cniErr.Code != 11 {
		t.Fatalf("err = %v, want the plugin's CNI error", err)
	}
	if !reflect.DeepEqual(f.calls, []string{"ADD", "DEL"}) {
		t.Errorf("calls = %v, want [ADD DEL]", f.calls)
	}
}

func TestGCValidAttachments(t *testing.T) {
	f := &fakeCNI{}
	n := fakeNetwork(t, f, nil)
	if err := n.GC(context.Background(), []Attachment{{ContainerID: "a"}, {ContainerID: "b", IfName: "net1"}}); err != nil {
		t.Fatal(err)
	}
	want := &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: "a", IfName: "eth0"}, {ContainerID: "b", IfName: "net1"}}}
	if !reflect.DeepEqual(f.gc, want) {
		t.Errorf("GC args = %+v, want %+v", f.gc, want)
	}
}

func TestStatusNeedsPlugins(t *testing.T) {
	f := &fakeCNI{}
	missing := func(p string, dirs []string) (string, error) {
		return "", errors.New("failed to find plugin \"" + p + "\" in path " + strings.Join(dirs, ":"))
	}
	err := fakeNetwork(t, f, missing).Status(context.Background())
	want := `cni STATUS on network podnet: plugin netplug: failed to find plugin "netplug" in path /bin-a:/bin-b`
	if err == nil || err.Error() != want || len(f.calls) != 0 {
		t.Errorf("Status = %v (calls %v), want %q and no STATUS call", err, f.calls, want)
	}
	found := func(p string, _ []string) (string, error) { return "/bin-a/" + p, nil }
	if err := fakeNetwork(t, f, found).Status(context.Background()); err != nil || !reflect.DeepEqual(f.calls, []string{"STATUS"}) {
		t.Errorf("Status = %v, calls %v; want nil, [STATUS]", err, f.calls)
	}
}

// TestTimeout runs a plugin that never answers, and whose child keeps its stdout open: every call
// must end soon after the timeout.
func TestTimeout(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	confDir := filepath.Join(root, "net.d")
	for _, d := range []string{bin, confDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\nsleep 30 &\nwait\n"
	if err := os.WriteFile(filepath.Join(bin, "sleeper"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := `{"cniVersion":"1.1.0","name":"slow","plugins":[{"type":"sleeper"}]}`
	if err := os.WriteFile(filepath.Join(confDir, "10-slow.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	n, err := New(Config{ConfDir: confDir, BinDirs: []string{bin}, CacheDir: filepath.Join(root, "cache"), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	a := Attachment{ContainerID: "slow1", NetNS: "/proc/self/ns/net", PodNamespace: "ns", PodName: "p"}
	ctx := context.Background()
	calls := []struct {
		name  string
		calls int // plugin calls the operation makes (ADD rolls back with a DEL)
		run   func() error
	}{
		{"ADD", 2, func() error { _, err := n.Add(ctx, a); return err }},
		{"DEL", 1, func() error { return n.Del(ctx, a) }},
		{"STATUS", 1, func() error { return n.Status(ctx) }},
		{"GC", 1, func() error { return n.GC(ctx, nil) }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.run()
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v, want a deadline error", c.name, err)
		}
		if limit := time.Duration(c.calls)*timeout + 2*time.Second; took > limit {
			t.Errorf("%s took %v, want under %v", c.name, took, limit)
		}
	}
}
