package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// etcd is the peer: kube-apiserver keeps every object in it, so its latency and memory are the
// floor under any real API server. It runs on loopback ports inside the bench's namespace.
type etcd struct {
	cmd    *exec.Cmd
	client *http.Client
	next   atomic.Int64
}

const etcdURL = "http://127.0.0.1:2379"

func startEtcd(ctx context.Context, bin, dir string) (*etcd, error) {
	log, err := os.Create(dir + ".log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--name", "bench", "--data-dir", dir,
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "bench=http://127.0.0.1:2380")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &etcd{cmd: cmd, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.call(ctx, "range", map[string]any{"key": b64("/")})
		if err == nil {
			return e, nil
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("etcd did not become ready (log in %s.log): %w", dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func (e *etcd) call(ctx context.Context, op string, body map[string]any) ([]byte, error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", etcdURL+"/v3/kv/"+op, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("etcd %s: %d %s", op, resp.StatusCode, out)
	}
	return out, nil
}

func key(ns, name string) string { return "/registry/services/specs/" + ns + "/" + name }

func (e *etcd) put(ctx context.Context, ns, name string) error {
	_, err := e.call(ctx, "put", map[string]any{"key": b64(key(ns, name)), "value": base64.StdEncoding.EncodeToString(serviceJSON(ns, name, true))})
	return err
}

func (e *etcd) name() string { return "etcd" }
func (e *etcd) pid() int     { return e.cmd.Process.Pid }

func (e *etcd) stop() {
	e.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		e.cmd.Process.Kill()
		<-done
	}
}

func (e *etcd) create(ctx context.Context, _ int) error {
	return e.put(ctx, "default", fmt.Sprintf("svc-%d", e.next.Add(1)))
}

func (e *etcd) get(ctx context.Context, i int) error {
	_, err := e.call(ctx, "range", map[string]any{"key": b64(key("default", fmt.Sprintf("svc-%d", 1+int64(i)%e.next.Load())))})
	return err
}

func (e *etcd) list(ctx context.Context) error {
	prefix := "/registry/services/specs/list/"
	end := prefix[:len(prefix)-1] + "0" // '/' + 1
	_, err := e.call(ctx, "range", map[string]any{"key": b64(prefix), "range_end": b64(end)})
	return err
}

func (e *etcd) prepareList(ctx context.Context) error {
	for i := 0; i < 100; i++ {
		if err := e.put(ctx, "list", fmt.Sprintf("l-%d", i)); err != nil {
			return err
		}
	}
	return nil
}
