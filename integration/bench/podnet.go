package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const podnetURL = "https://127.0.0.1:6443"

type podnet struct {
	cmd     *exec.Cmd
	client  *http.Client
	token   string
	ca      []byte
	next    atomic.Int64
	dataDir string
	runDir  string
}

func startPodnet(ctx context.Context, bin, dir string, extra ...string) (*podnet, error) {
	data, runDir := filepath.Join(dir, "data"), filepath.Join(dir, "run")
	log, err := os.Create(dir + ".log")
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--data-dir", data, "--run-dir", runDir, "--node-ip", "127.0.0.1"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &podnet{cmd: cmd, dataDir: data, runDir: runDir}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := p.connect(data); err == nil {
			return p, nil
		} else if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("podnet did not become ready (log in %s.log): %w", dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connect reads the credentials podnet wrote and checks /readyz.
func (p *podnet) connect(data string) error {
	ca, err := os.ReadFile(filepath.Join(data, "pki", "ca.crt"))
	if err != nil {
		return err
	}
	token, err := os.ReadFile(filepath.Join(data, "pki", "token"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	p.token, p.ca = strings.TrimSpace(string(token)), ca
	p.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64,
	}}
	return p.do(context.Background(), "GET", "/readyz", nil, 200)
}

func (p *podnet) name() string { return "podnet" }
func (p *podnet) pid() int     { return p.cmd.Process.Pid }

func (p *podnet) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func (p *podnet) do(ctx context.Context, method, path string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, podnetURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return nil
}

func (p *podnet) createIn(ctx context.Context, ns, name string) error {
	return p.do(ctx, "POST", "/api/v1/namespaces/"+ns+"/services", serviceJSON(ns, name, false), 201)
}

func (p *podnet) create(ctx context.Context, _ int) error {
	return p.createIn(ctx, "default", fmt.Sprintf("svc-%d", p.next.Add(1)))
}

func (p *podnet) get(ctx context.Context, i int) error {
	return p.do(ctx, "GET", fmt.Sprintf("/api/v1/namespaces/default/services/svc-%d", 1+int64(i)%p.next.Load()), nil, 200)
}

func (p *podnet) list(ctx context.Context) error {
	return p.do(ctx, "GET", "/api/v1/namespaces/list/services", nil, 200)
}

func (p *podnet) prepareList(ctx context.Context) error {
	if err := p.do(ctx, "POST", "/api/v1/namespaces", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"list"}}`), 201); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		if err := p.createIn(ctx, "list", fmt.Sprintf("l-%d", i)); err != nil {
			return err
		}
	}
	return nil
}

// serviceJSON is the Service a client sends; stored=true gives what the server keeps (with the
// fields it fills), which is what the peer stores.
func serviceJSON(ns, name string, stored bool) []byte {
	if !stored {
		return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":%q,"namespace":%q,"labels":{"app":"bench"}},`+
			`"spec":{"selector":{"app":"bench"},"ports":[{"name":"http","port":80,"targetPort":8080}]}}`, name, ns))
	}
	return []byte(fmt.Sprintf(`{"kind":"Service","apiVersion":"v1","metadata":{"name":%q,"namespace":%q,`+
		`"uid":"0b6f1c57-4d0e-4a0e-9d1c-2f8c2b7d9a11","resourceVersion":"12345","creationTimestamp":"2026-01-01T00:00:00Z",`+
		`"labels":{"app":"bench"}},"spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}],`+
		`"selector":{"app":"bench"},"clusterIP":"10.96.12.34","clusterIPs":["10.96.12.34"],"type":"ClusterIP",`+
		`"sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},`+
		`"status":{"loadBalancer":{}}}`, name, ns))
}
