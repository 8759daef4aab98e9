package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// probeTimeout bounds one connect attempt while a service is being programmed: before the
// rules land the ClusterIP is dropped (an address of the service CIDR no service holds), so
// an attempt would otherwise wait for the SYN's retransmission.
const probeTimeout = 5 * time.Millisecond

// refusedPause spaces out attempts that fail at once (connection refused: the service is
// programmed but its slice not yet), so that the probe does not take a whole core of the two
// from the daemon it is timing.
const refusedPause = 200 * time.Microsecond

// firstConnect dials addr until a connection is established and returns when it was.
func firstConnect(ctx context.Context, addr string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		tried := time.Now()
		c, err := net.DialTimeout("tcp", addr, probeTimeout)
		if err == nil {
			at := time.Now()
			c.Close()
			return at, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("no connection to %s within %s: %w", addr, timeout, err)
		}
		if time.Since(tried) < time.Millisecond {
			time.Sleep(refusedPause)
		}
	}
}

// programLatency creates a Service in front of the nginx pod, times from just before the
// create call to the first established connection to its ClusterIP:80, deletes it, and waits
// until the proxy has removed it (base is the service-ips count without it).
func (n *svcNode) programLatency(ctx context.Context, name string, base int, timeout time.Duration) (time.Duration, error) {
	svcs := n.cs.CoreV1().Services(svcNamespace)
	start := time.Now()
	svc, err := svcs.Create(ctx, webService(name, corev1.ServiceTypeClusterIP), metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("create service %s: %w", name, err)
	}
	at, err := firstConnect(ctx, net.JoinHostPort(svc.Spec.ClusterIP, "80"), timeout)
	derr := svcs.Delete(ctx, name, metav1.DeleteOptions{})
	if err = errors.Join(err, derr); err != nil {
		return 0, err
	}
	if err := waitProgrammed(ctx, base, timeout, 5*time.Millisecond); err != nil {
		return 0, fmt.Errorf("after deleting %s: %w", name, err)
	}
	return at.Sub(start), nil
}

// retransmitted is a connect slow enough to have waited for a retransmitted SYN (the first
// retransmission comes after 1 s).
const retransmitted = 500 * time.Millisecond

// connectFigure is one target's connect latency and how many connects waited for a
// retransmitted SYN (a lost packet; the percentiles of 2,000 would hide a few).
type connectFigure struct {
	latency
	slow int
}

// connectLatency is figure (d): n sequential TCP connects to addr (SYN to established),
// each closed at once.
func connectLatency(addr string, n int) (connectFigure, error) {
	d := make([]time.Duration, 0, n)
	slow := 0
	for i := 0; i < n; i++ {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return connectFigure{}, fmt.Errorf("connect %d to %s: %w", i, addr, err)
		}
		t := time.Since(start)
		c.Close()
		d = append(d, t)
		if t > retransmitted {
			slow++
		}
	}
	return connectFigure{percentiles(d), slow}, nil
}

// The two ways figure (c) sends requests.
const (
	// connNew opens a TCP connection per request: every request pays the connection's setup,
	// and through a ClusterIP the DNAT decision and conntrack's NAT binding.
	connNew = "new connection per request"
	// connKeep reuses each client's connection, as wrk and hey do by default: what a
	// request costs once connected (through a ClusterIP: conntrack's per-packet address
	// rewrite and, from the node, a route lookup per packet after DNAT).
	connKeep = "keep-alive"
)

func getOnce(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// benchDialer is the dialer of figure (c)'s connections. They close with RST: the client's end
// must not sit in TIME_WAIT, or some 50,000 connections in a few seconds would run out of
// ephemeral ports.
var benchDialer = &net.Dialer{Control: lingerZero}

func lingerZero(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	})
	return errors.Join(err, serr)
}
