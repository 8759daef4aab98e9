package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// perfRun is one dnsperf run against one server.
type perfRun struct {
	qps       float64
	sent      int
	completed int
	lost      int
	avg       time.Duration // dnsperf's average latency
	p99       time.Duration // from the per-query latencies of -v; 0 without -v
	responses int           // per-query lines seen (with -v)
	rcodes    string        // dnsperf's "Response codes" line
	serverCPU time.Duration // CPU time (user + system) the server process used during the run
	clientCPU time.Duration // dnsperf's
}

// perfTimeout is dnsperf's -t: a query unanswered this long is lost; in the p99 it counts as
// this long.
const perfTimeout = 2 * time.Second

// runDNSPerf runs dnsperf against addr (host:port) with the query file for dur, clients
// sockets (so that the server's SO_REUSEPORT sockets all get traffic: the kernel picks one by
// the sender's address and port) and, when rate > 0, at most rate queries per second. With -v
// dnsperf prints every response's latency, which gives the p99 (dnsperf 2.10 has no histogram).
func runDNSPerf(ctx context.Context, addr string, pid int, file string, dur time.Duration, clients, rate int, verbose bool) (perfRun, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return perfRun{}, err
	}
	args := []string{"-s", host, "-p", port, "-d", file, "-l", strconv.Itoa(int(dur / time.Second)),
		"-c", strconv.Itoa(clients), "-t", strconv.Itoa(int(perfTimeout / time.Second))}
	if verbose {
		args = append(args, "-v")
	}
	if rate > 0 {
		args = append(args, "-Q", strconv.Itoa(rate))
	}
	cmd := exec.CommandContext(ctx, "dnsperf", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return perfRun{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cpu0 := procCPU(pid)
	if err := cmd.Start(); err != nil {
		return perfRun{}, fmt.Errorf("dnsperf (hack/deps.sh --bench installs it): %w", err)
	}
	r, lat, perr := parseDNSPerf(out)
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("dnsperf %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	r.serverCPU = procCPU(pid) - cpu0
	r.clientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if perr != nil {
		return r, perr
	}
	if r.completed == 0 {
		return r, fmt.Errorf("dnsperf %s: no query completed: %s", strings.Join(args, " "), stderr.String())
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.p99 = lat[int(0.99*float64(len(lat)-1))]
	}
	return r, nil
}

// parseDNSPerf reads dnsperf's output: "> RCODE name type seconds" per response with -v
// ("> T name type" for a timeout), then the statistics.
func parseDNSPerf(rd io.Reader) (perfRun, []time.Duration, error) {
	var r perfRun
	lat := make([]time.Duration, 0, 1<<20)
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "> "); ok {
			f := strings.Fields(rest)
			r.responses++
			if len(f) >= 4 && f[0] != "T" && f[0] != "I" {
				s, err := strconv.ParseFloat(f[len(f)-1], 64)
				if err == nil {
					lat = append(lat, time.Duration(s*float64(time.Second)))
					continue
				}
			}
			if len(f) > 0 && f[0] == "T" {
				lat = append(lat, perfTimeout)
			}
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		first, _, _ := strings.Cut(val, " ")
		switch key {
		case "Queries sent":
			r.sent, _ = strconv.Atoi(first)
		case "Queries completed":
			r.completed, _ = strconv.Atoi(first)
		case "Queries lost":
			r.lost, _ = strconv.Atoi(first)
		case "Queries per second":
			r.qps, _ = strconv.ParseFloat(first, 64)
		case "Average Latency (s)":
			s, _ := strconv.ParseFloat(first, 64)
			r.avg = time.Duration(s * float64(time.Second))
		case "Response codes":
			r.rcodes = val
		}
	}
	if err := sc.Err(); err != nil {
		return r, lat, fmt.Errorf("read dnsperf output: %w", err)
	}
	return r, lat, nil
}

// dnsperfVersion is "2.10.0", from `dnsperf -h`.
func dnsperfVersion() string {
	out, _ := exec.Command("dnsperf", "-h").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version "); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// procCPU is the CPU time (user and system, all threads) process pid has used, from
// /proc/PID/stat in clock ticks (100 per second on Linux).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields after its end.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
