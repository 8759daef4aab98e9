package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/podnet/podnet/integration/harness"
)

// corednsPort is CoreDNS's port on the node address; podnet's DNS has 53 there.
const corednsPort = 1053

// coredns is the peer of the DNS section: CoreDNS with kubeadm's plugins for names (kubernetes,
// forward, cache), reading podnet's API through the node's kubeconfig.
type coredns struct {
	cmd     *exec.Cmd
	log     *os.File
	stopped sync.Once
}

// corednsBinary is bin/coredns beside the podnet binary (hack/deps.sh builds it), or $COREDNS.
func corednsBinary(podnetBin string) string {
	if p := os.Getenv("COREDNS"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(podnetBin), "coredns")
}

// corefile is harness.Corefile on the node address, forwarding to the bench's upstream.
func corefile(kubeconfig string) string {
	return harness.Corefile{Bind: svcNodeIP, Port: corednsPort, Kubeconfig: kubeconfig, Forward: upstreamIP}.String()
}

// startCoreDNS runs CoreDNS in the bench's namespace (the node's) and waits until it answers
// the kubernetes Service's name from podnet's API.
func startCoreDNS(bin, dir, kubeconfig string) (*coredns, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(conf, []byte(corefile(kubeconfig)), 0o600); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "coredns.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-conf", conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s (hack/deps.sh builds it): %w", bin, err)
	}
	c := &coredns{cmd: cmd, log: log}
	if err := waitAnswer(c.addr(), "kubernetes.default.svc.cluster.local.", mdns.TypeA, 30*time.Second); err != nil {
		c.stop()
		out, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("coredns: %w; its log:\n%s", err, out)
	}
	return c, nil
}

func (c *coredns) addr() string { return net.JoinHostPort(svcNodeIP, strconv.Itoa(corednsPort)) }
func (c *coredns) pid() int     { return c.cmd.Process.Pid }

// stop ends CoreDNS by its PID (SIGTERM, then SIGKILL after 10 s); the section stops it before
// its in-process measurement and again, harmlessly, on the way out.
func (c *coredns) stop() {
	c.stopped.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
		c.log.Close()
	})
}

// corednsVersion is "1.15.0", from `coredns -version`.
func corednsVersion(bin string) string {
	out, err := exec.Command(bin, "-version").Output()
	if err != nil {
		return "?"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(strings.TrimSpace(first), "CoreDNS-")
}

// waitAnswer asks server for name until the answer is NOERROR with records.
func waitAnswer(server, name string, qtype uint16, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &mdns.Client{Net: "udp", Timeout: time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	for {
		in, _, err := c.ExchangeContext(context.Background(), m, server)
		if err == nil && in.Rcode == mdns.RcodeSuccess && len(in.Answer) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("rcode %s, %d answers", mdns.RcodeToString[in.Rcode], len(in.Answer))
			}
			return fmt.Errorf("%s %s from %s not answered within %s: %w", name, mdns.TypeToString[qtype], server, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
