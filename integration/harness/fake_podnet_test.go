package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The harness is tested against this test binary standing in for bin/podnet: with fakePodnetEnv
// set, TestMain runs fakePodnet instead of the tests. It honours the same contract as podnet
// (serve flags, kubeconfig, /readyz, SIGTERM), so the harness is exercised without the daemon.
const (
	fakePodnetEnv = "HARNESS_FAKE_PODNET"
	// fakeLeakEnv makes the fake leave a mount in its run dir and a process in its namespace.
	fakeLeakEnv = "HARNESS_FAKE_LEAK"
	// fakeModeEnv makes the fake misbehave: "exit" (dies at once), "silent" (never listens),
	// "stubborn" (ignores SIGTERM).
	fakeModeEnv = "HARNESS_FAKE_MODE"
)

func fakePodnet(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "fake podnet: no command")
		return 2
	}
	switch args[0] {
	case "serve":
		if err := fakeServe(args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake podnet:", err)
			return 1
		}
		return 0
	case "kubectl":
		// Echo what the harness passed, so tests see the exact command line and stdin.
		stdin, _ := io.ReadAll(os.Stdin)
		fmt.Printf("kubectl %s\nstdin: %s\n", strings.Join(args[1:], " "), stdin)
		return 0
	}
	fmt.Fprintln(os.Stderr, "fake podnet: unknown command", args[0])
	return 2
}

func fakeServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "")
	runDir := fs.String("run-dir", "", "")
	config := fs.String("config", "", "")
	fs.Bool("offline", false, "")        // the harness always passes it
	fs.String("dns-resolv-conf", "", "") // the harness always passes it
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config != "" {
		b, err := os.ReadFile(*config)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "config: %s\n", strings.TrimSpace(string(b)))
	}
	switch os.Getenv(fakeModeEnv) {
	case "exit":
		return fmt.Errorf("giving up at once")
	case "silent":
		select {}
	}
	if os.Getenv(fakeLeakEnv) == "1" {
		if err := fakeLeak(*runDir); err != nil {
			return err
		}
	}
	return fakeServeAPI(*dataDir)
}

func fakeServeAPI(dataDir string) error {
	nodeIP, err := defaultRouteIP()
	if err != nil {
		return err
	}
	cert, err := selfSignedCert()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ":6443")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	srv := &http.Server{
		Handler:   mux,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		// Plain TCP probes (DialClient) abort handshakes; keep the log to what tests compare.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	if err := writeFakeKubeconfig(dataDir, nodeIP); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "serving on %s:6443\n", nodeIP)
	if os.Getenv(fakeModeEnv) == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
		select {}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(os.Stderr, "stopping on SIGTERM")
	return srv.Close()
}

// defaultRouteIP finds the source address of the default route the way podnet finds its node IP:
// a UDP "connection" only consults the routing table.
func defaultRouteIP() (string, error) {
	c, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

func writeFakeKubeconfig(dataDir, nodeIP string) error {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: https://%s:6443
    insecure-skip-tls-verify: true
users:
- name: fake
  user:
    token: fake
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
current-context: fake
`, nodeIP)
	return os.WriteFile(filepath.Join(dataDir, "kubeconfig"), []byte(kc), 0o600)
}

func selfSignedCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fake-podnet"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// fakeLeak does what a buggy podnet might: a mount under the run dir and a process that outlives
// the daemon in the node's namespace.
func fakeLeak(runDir string) error {
	dir := filepath.Join(runDir, "leak")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		return fmt.Errorf("mounting leak: %w", err)
	}
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "leaked process %d\n", cmd.Process.Pid)
	return cmd.Process.Release()
}
