package pki

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/tls"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteKubeconfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "kubeconfig")
	caPEM := []byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n")
	if err := WriteKubeconfig(path, "https://192.0.2.10:6443", caPEM, "tok123"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	cluster, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	got := fmt.Sprintf("mode=%s current=%s cluster=%s server=%s ca=%t user=%s token=%s",
		st.Mode(), cfg.CurrentContext, ctx.Cluster, cluster.Server,
		string(cluster.CertificateAuthorityData) == string(caPEM), ctx.AuthInfo, user.Token)
	want := "mode=-rw------- current=podnet cluster=podnet server=https://192.0.2.10:6443 ca=true user=admin token=tok123"
	if got != want {
		t.Errorf("kubeconfig:\n got %s\nwant %s", got, want)
	}
}

// TestKubeconfigReachesServer drives a TLS server holding the bundle's serving certificate
// with a client built from the kubeconfig, as kubectl would.
func TestKubeconfigReachesServer(t *testing.T) {
	b, err := Ensure(t.TempDir(), nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !TokenEqual(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), b.Token) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "hello admin")
	}))
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{b.ServingCert}}
	srv.StartTLS()
	defer srv.Close()

	tests := []struct {
		name, host, token, want string
	}{
		{"right token", srv.URL, b.Token, "200 hello admin"},
		{"localhost name", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), b.Token, "200 hello admin"},
		{"wrong token", srv.URL, "nope", "401 unauthorized\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := WriteKubeconfig(path, tt.host, b.CAPEM, tt.token); err != nil {
				t.Fatal(err)
			}
			if got := getVia(t, path); got != tt.want {
				t.Errorf("GET = %q, want %q", got, tt.want)
			}
		})
	}
}

func getVia(t *testing.T, kubeconfig string) string {
	t.Helper()
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(restCfg.Host + "/version")
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

func TestTokenEqual(t *testing.T) {
	tests := []struct {
		got, want string
		equal     bool
	}{
		{"abc", "abc", true},
		{"abd", "abc", false},
		{"abcd", "abc", false},
		{"", "abc", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := TokenEqual(tt.got, tt.want); got != tt.equal {
			t.Errorf("TokenEqual(%q, %q) = %t, want %t", tt.got, tt.want, got, tt.equal)
		}
	}
}
