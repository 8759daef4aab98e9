package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// changedKeys renders the settings of c that differ from Default() as sorted `key: value` lines,
// so that each test states only what it expects to have moved.
func changedKeys(t *testing.T, c Config) string {
	t.Helper()
	got, def := flatten(t, c), flatten(t, Default())
	var lines []string
	for k, v := range got {
		if def[k] != v {
			lines = append(lines, k+": "+v)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func flatten(t *testing.T, c Config) map[string]string {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if sub, ok := v.(map[string]any); ok {
			for k, x := range sub {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x)
			}
			return
		}
		out[prefix] = fmt.Sprint(v)
	}
	walk("", m)
	return out
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "podnet.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefault(t *testing.T) {
	data, err := yaml.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	want := `api:
  port: 6443
cni:
  binDirs:
  - /opt/cni/bin
  - /usr/lib/cni
  confDir: ""
dataDir: /var/lib/podnet
log:
  format: text
  level: info
network:
  bridge: podnet0
  clusterCIDR: 10.244.0.0/16
  clusterDNS: 10.96.0.10
  clusterDomain: cluster.local
  dnsPort: 53
  dnsResolvConf: /etc/resolv.conf
  loadBalancerPools: []
  nftablesTable: podnet
  nodePortRange: 30000-32767
  podCIDR: ""
  serviceCIDR: 10.96.0.0/12
nodeIP: ""
nodeName: ""
runDir: /run/podnet
runtime:
  executor: builtin
  offline: false
`
	if string(data) != want {
		t.Errorf("Default() as YAML:\n%s\nwant:\n%s", data, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
}

func TestDerivedPaths(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults", Default(), "/var/lib/podnet/cni/net.d /var/lib/podnet/kubeconfig /var/lib/podnet/pki"},
		{"confDir set", Config{DataDir: "/srv/pn", CNI: CNI{ConfDir: "/etc/cni/net.d"}},
			"/etc/cni/net.d /srv/pn/kubeconfig /srv/pn/pki"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join([]string{tt.cfg.CNIConfDir(), tt.cfg.KubeconfigPath(), tt.cfg.PKIDir()}, " ")
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    string
		wantErr string
	}{
		{name: "empty file keeps defaults", file: "# nothing\n", want: ""},
		{
			name: "overlay",
			file: `dataDir: /srv/podnet
api:
  port: 7443
network:
  serviceCIDR: 10.100.0.0/16
  clusterDNS: 10.100.0.10
cni:
  binDirs: [/usr/local/libexec/cni]
log:
  format: json
`,
			want: `api.port: 7443
cni.binDirs: [/usr/local/libexec/cni]
dataDir: /srv/podnet
log.format: json
network.clusterDNS: 10.100.0.10
network.serviceCIDR: 10.100.0.0/16`,
		},
		{name: "unknown top-level key", file: "dataDir: /x\nbogus: 1\n",
			wantErr: `config file FILE: unknown field "bogus"`},
		{name: "unknown nested key", file: "network:\n  serviceCidr: 10.0.0.0/16\n",
			wantErr: `config file FILE: unknown field "network.serviceCidr"`},
		{name: "duplicate key", file: "runDir: /a\nrunDir: /b\n",
			wantErr: `config file FILE: invalid YAML: yaml: unmarshal errors:
  line 2: key "runDir" already set in map`},
		{name: "wrong type", file: "api:\n  port: high\n",
			wantErr: `config file FILE: decoding: json: cannot unmarshal string into Go struct field API.api.port of type int`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			c, err := Load(path)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Load succeeded, want error %q", tt.wantErr)
				}
				if got := strings.ReplaceAll(err.Error(), path, "FILE"); got != tt.wantErr {
					t.Fatalf("error:\n%s\nwant:\n%s", got, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := changedKeys(t, c); got != tt.want {
				t.Errorf("changed settings:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestLoadNoFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(t, c); got != "" {
		t.Errorf("Load(\"\") changed %s", got)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "reading config: open ") {
		t.Errorf("missing file: got %v, want a reading config error", err)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	file := `dataDir: /from/file
network:
  serviceCIDR: 10.100.0.0/16
  clusterDNS: 10.100.0.10
log:
  level: debug
`
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no flags: the file wins", args: nil, want: `dataDir: /from/file
log.level: debug
network.clusterDNS: 10.100.0.10
network.serviceCIDR: 10.100.0.0/16`},
		{name: "set flags override, unset ones do not",
			args: []string{"--data-dir=/from/flag", "--api-port=8443", "--cni-bin-dir=/a,/b",
				"--load-balancer-pool=192.168.100.0/28", "--load-balancer-pool=fd00:100::10-fd00:100::20"},
			want: `api.port: 8443
cni.binDirs: [/a /b]
dataDir: /from/flag
log.level: debug
network.clusterDNS: 10.100.0.10
network.loadBalancerPools: [192.168.100.0/28 fd00:100::10-fd00:100::20]
network.serviceCIDR: 10.100.0.0/16`},
		{name: "a flag set to the default value still overrides the file",
			args: []string{"--log-level=info", "--service-cidr=10.96.0.0/12", "--cluster-dns=10.96.0.10"},
			want: `dataDir: /from/file`},
		{name: "every other flag",
			args: []string{"--run-dir=/r", "--node-name=n1", "--node-ip=192.0.2.5", "--cluster-cidr=10.200.0.0/16",
				"--node-port-range=31000-31999", "--cluster-domain=example.local", "--bridge=pnbr1",
				"--nftables-table=podnet2", "--cni-conf-dir=/c", "--executor=crun", "--log-format=json"},
			want: `cni.confDir: /c
dataDir: /from/file
log.format: json
log.level: debug
network.bridge: pnbr1
network.clusterCIDR: 10.200.0.0/16
network.clusterDNS: 10.100.0.10
network.clusterDomain: example.local
network.nftablesTable: podnet2
network.nodePortRange: 31000-31999
network.serviceCIDR: 10.100.0.0/16
nodeIP: 192.0.2.5
nodeName: n1
runDir: /r
runtime.executor: crun`},
	}
	path := writeFile(t, file)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			flagged := Default()
			flagged.RegisterFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c, err := LoadWithFlags(path, fs, &flagged)
			if err != nil {
				t.Fatal(err)
			}
			if got := changedKeys(t, c); got != tt.want {
				t.Errorf("changed settings:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRegisterFlagsShowsDefaults(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c := Default()
	c.RegisterFlags(fs)
	var got []string
	fs.VisitAll(func(f *pflag.Flag) { got = append(got, f.Name+"="+f.DefValue) })
	want := `api-port=6443
bridge=podnet0
cluster-cidr=10.244.0.0/16
cluster-dns=10.96.0.10
cluster-domain=cluster.local
cni-bin-dir=[/opt/cni/bin,/usr/lib/cni]
cni-conf-dir=
data-dir=/var/lib/podnet
dns-port=53
dns-resolv-conf=/etc/resolv.conf
executor=builtin
load-balancer-pool=[]
log-format=text
log-level=info
nftables-table=podnet
node-ip=
node-name=
node-port-range=30000-32767
offline=false
pod-cidr=
run-dir=/run/podnet
service-cidr=10.96.0.0/12`
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("flags:\n%s\nwant:\n%s", g, want)
	}
}

// TestDocExample keeps the example in doc.go honest: it must load strictly and equal the defaults.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//\t"); ok {
			example = append(example, rest)
		}
	}
	c, err := Load(writeFile(t, strings.Join(example, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(t, c); got != "" {
		t.Errorf("doc.go example differs from Default():\n%s", got)
	}
}

func TestPodCIDR(t *testing.T) {
	for _, tc := range []struct {
		cluster, pod, want, problem string
	}{
		{"10.244.0.0/16", "", "10.244.0.0/24", ""},
		{"10.244.0.0/16", "10.244.7.0/24", "10.244.7.0/24", ""},
		{"10.244.0.0/25", "", "10.244.0.0/25", ""},
		{"10.244.0.0/16", "10.245.0.0/24", "", "network.podCIDR: 10.245.0.0/24 is not inside network.clusterCIDR 10.244.0.0/16"},
		{"10.244.0.0/16", "10.0.0.0/8", "", "network.podCIDR: 10.0.0.0/8 is not inside network.clusterCIDR 10.244.0.0/16"},
	} {
		c := Default()
		c.NodeIP = "192.168.1.2"
		c.Network.ClusterCIDR, c.Network.PodCIDR = tc.cluster, tc.pod
		p, err := c.Parse()
		switch {
		case tc.problem != "":
			if err == nil || err.Error() != tc.problem {
				t.Errorf("%s in %s: %v, want %s", tc.pod, tc.cluster, err, tc.problem)
			}
		case err != nil:
			t.Errorf("%s in %s: %v", tc.pod, tc.cluster, err)
		case p.PodCIDR.String() != tc.want:
			t.Errorf("%s in %s: podCIDR %s, want %s", tc.pod, tc.cluster, p.PodCIDR, tc.want)
		}
	}
}
