package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// listing renders dir's entries with their modes, the directory itself first.
func listing(t *testing.T, dir string) string {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{". " + st.Mode().String()}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, e.Name()+" "+info.Mode().String())
	}
	return strings.Join(lines, "\n")
}

// ordinals names distinct values #1, #2, … in order of first appearance, so that tests can say
// "the same CA as before" in literal text.
type ordinals map[string]int

func (o ordinals) of(v string) string {
	if _, ok := o[v]; !ok {
		o[v] = len(o) + 1
	}
	return fmt.Sprintf("#%d", o[v])
}

func describe(b *Bundle, cas, servings, tokens ordinals) string {
	leaf := b.ServingCert.Leaf
	sans := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		sans = append(sans, ip.String())
	}
	sort.Strings(sans)
	s := fmt.Sprintf("ca=%s token=%s serving=%s %v until %s",
		cas.of(string(b.CACert.Raw)), tokens.of(b.Token), servings.of(leaf.SerialNumber.String()),
		sans, leaf.NotAfter.Format(time.RFC3339))
	if b.CACreated {
		s += " +ca"
	}
	if b.TokenCreated {
		s += " +token"
	}
	if b.ServingReason != "" {
		s += " (" + b.ServingReason + ")"
	}
	return s
}

func TestEnsureFirstStartFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := Ensure(dir, []net.IP{net.ParseIP("192.0.2.10")}, []string{"node1"}, t0); err != nil {
		t.Fatal(err)
	}
	want := `. drwx------
apiserver.crt -rw-r--r--
apiserver.key -rw-------
ca.crt -rw-r--r--
ca.key -rw-------
token -rw-------`
	if got := listing(t, dir); got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}
}

func TestEnsureTightensExistingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, nil, nil, t0); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.SplitN(listing(t, dir), "\n", 2)[0], ". drwx------"; got != want {
		t.Errorf("dir mode %q, want %q", got, want)
	}
}

func TestEnsureLifecycle(t *testing.T) {
	ip := func(s string) net.IP { return net.ParseIP(s) }
	steps := []struct {
		name  string
		now   time.Time
		ips   []net.IP
		names []string
		want  string
	}{
		{"first start", t0, []net.IP{ip("192.0.2.10")}, []string{"node1"},
			"ca=#1 token=#1 serving=#1 [127.0.0.1 192.0.2.10 localhost node1] until 2027-01-02T03:04:05Z +ca +token (no serving certificate yet)"},
		{"second start loads everything", t0.Add(time.Hour), []net.IP{ip("192.0.2.10")}, []string{"node1"},
			"ca=#1 token=#1 serving=#1 [127.0.0.1 192.0.2.10 localhost node1] until 2027-01-02T03:04:05Z"},
		{"fewer names are still covered", t0.Add(2 * time.Hour), nil, []string{"NODE1."},
			"ca=#1 token=#1 serving=#1 [127.0.0.1 192.0.2.10 localhost node1] until 2027-01-02T03:04:05Z"},
		{"new IP re-issues with the same CA and token", t0.Add(24 * time.Hour), []net.IP{ip("192.0.2.10"), ip("10.96.0.1")}, []string{"node1"},
			"ca=#1 token=#1 serving=#2 [10.96.0.1 127.0.0.1 192.0.2.10 localhost node1] until 2027-01-03T03:04:05Z (serving certificate does not cover the requested names and addresses)"},
		{"31 days before expiry: kept", t0.Add(24*time.Hour + 334*24*time.Hour), []net.IP{ip("10.96.0.1")}, nil,
			"ca=#1 token=#1 serving=#2 [10.96.0.1 127.0.0.1 192.0.2.10 localhost node1] until 2027-01-03T03:04:05Z"},
		{"29 days before expiry: re-issued", t0.Add(24*time.Hour + 336*24*time.Hour), []net.IP{ip("10.96.0.1")}, nil,
			"ca=#1 token=#1 serving=#3 [10.96.0.1 127.0.0.1 localhost] until 2027-12-05T03:04:05Z (serving certificate expires at 2027-01-03T03:04:05Z)"},
	}
	dir := t.TempDir()
	cas, servings, tokens := ordinals{}, ordinals{}, ordinals{}
	for _, st := range steps {
		b, err := Ensure(dir, st.ips, st.names, st.now)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := describe(b, cas, servings, tokens); got != st.want {
			t.Errorf("%s:\n got %s\nwant %s", st.name, got, st.want)
		}
	}
}

// handshake runs a TLS handshake against the bundle's serving certificate, over loopback TCP, as
// a client that trusts only the bundle's CA and dials serverName.
func handshake(t *testing.T, b *Bundle, serverName string) string {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CAPEM) {
		return "CA PEM not loadable"
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{b.ServingCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_ = conn.(*tls.Conn).Handshake()
	}()
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: serverName})
	if err != nil {
		return err.Error()
	}
	conn.Close()
	return "ok"
}

func TestServingCertVerifiesAgainstCA(t *testing.T) {
	b, err := Ensure(t.TempDir(), []net.IP{net.ParseIP("192.0.2.10")}, []string{"node1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ serverName, want string }{
		{"127.0.0.1", "ok"},
		{"localhost", "ok"},
		{"192.0.2.10", "ok"},
		{"node1", "ok"},
		{"192.0.2.99", "tls: failed to verify certificate: x509: certificate is valid for 127.0.0.1, 192.0.2.10, not 192.0.2.99"},
		{"other.example", "tls: failed to verify certificate: x509: certificate is valid for localhost, node1, not other.example"},
	}
	for _, tt := range tests {
		t.Run(tt.serverName, func(t *testing.T) {
			if got := handshake(t, b, tt.serverName); got != tt.want {
				t.Errorf("handshake(%s) = %q, want %q", tt.serverName, got, tt.want)
			}
		})
	}
}

func TestEnsureDamagedFiles(t *testing.T) {
	other, err := Ensure(t.TempDir(), nil, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	copyServing := func(dir string) error {
		for _, f := range []string{"apiserver.crt", "apiserver.key"} {
			data, err := os.ReadFile(filepath.Join(other.Paths.Dir, f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
				return err
			}
		}
		return nil
	}
	write := func(name, content string) func(string) error {
		return func(dir string) error { return os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600) }
	}
	tests := []struct {
		name   string
		damage func(dir string) error
		now    time.Time
		want   string
	}{
		{"CA key lost", func(dir string) error { return os.Remove(filepath.Join(dir, "ca.key")) }, t0,
			"error: loading CA: DIR/ca.key: missing"},
		{"CA certificate garbage", write("ca.crt", "garbage"), t0,
			"error: loading CA: DIR/ca.crt: no PEM CERTIFICATE block"},
		{"CA expired", func(string) error { return nil }, t0.AddDate(11, 0, 0),
			"error: loading CA DIR/ca.crt: expired at 2035-12-31T03:04:05Z"},
		{"serving certificate garbage", write("apiserver.crt", "garbage"), t0,
			"reissued: serving certificate unusable: DIR/apiserver.crt: no PEM CERTIFICATE block"},
		{"serving key from another pair", write("apiserver.key", string(mustKeyPEM(t))), t0,
			"reissued: serving certificate unusable: DIR/apiserver.crt does not match the key in DIR/apiserver.key"},
		{"serving pair from another CA", copyServing, t0,
			"reissued: serving certificate not signed by the current CA"},
		{"serving key lost", func(dir string) error { return os.Remove(filepath.Join(dir, "apiserver.key")) }, t0,
			"reissued: no serving certificate yet"},
		{"empty token", write("token", "\n"), t0, "token regenerated"},
		{"two-word token", write("token", "a b\n"), t0, "error: loading token DIR/token: more than one line or word"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Ensure(dir, nil, nil, t0); err != nil {
				t.Fatal(err)
			}
			if err := tt.damage(dir); err != nil {
				t.Fatal(err)
			}
			b, err := Ensure(dir, nil, nil, tt.now)
			var got string
			switch {
			case err != nil:
				got = "error: " + err.Error()
			case b.ServingReason != "":
				got = "reissued: " + b.ServingReason
			case b.TokenCreated:
				got = "token regenerated"
			default:
				got = "loaded"
			}
			if got = strings.ReplaceAll(got, dir, "DIR"); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func mustKeyPEM(t *testing.T) []byte {
	t.Helper()
	_, pemBytes, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	return pemBytes
}

func TestEnsureKeepsOperatorToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("my-own-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Ensure(dir, nil, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s created=%t", b.Token, b.TokenCreated); got != "my-own-token created=false" {
		t.Errorf("got %q", got)
	}
}

func TestGeneratedTokenShape(t *testing.T) {
	b, err := Ensure(t.TempDir(), nil, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(b.Paths.Token())
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("len=%d file=%t", len(b.Token), string(onDisk) == b.Token+"\n")
	if want := "len=43 file=true"; got != want {
		t.Errorf("token %s, want %s", got, want)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name    string
		mode    fs.FileMode
		existed bool
		want    string
	}{
		{"new key", 0o600, false, "f -rw------- new"},
		{"replaces a world-readable file with a private one", 0o600, true, "f -rw------- new"},
		{"certificate", 0o644, true, "f -rw-r--r-- new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.existed {
				if err := os.WriteFile(path, []byte("old"), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := atomicfile.Write(path, []byte("new"), tt.mode); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.SplitN(listing(t, dir), "\n", 2)[1] + " " + string(data)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	err := atomicfile.Write(filepath.Join(t.TempDir(), "missing", "f"), nil, 0o600)
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("write into a missing dir: %v", err)
	}
}
