package main

import (
	"fmt"
	"os"
	"os/exec"
)

const innerEnv = "PODNET_BENCH_INNER"

// outer makes a network namespace of its own and re-runs the bench inside it, so that the
// servers it starts listen only there; the namespace goes when the bench ends. The inner bench
// also gets a private mount namespace: podman keeps state at fixed host paths (its IPAM database
// in /run/containers, a blob cache in /var/lib/containers) that the bench covers with tmpfs there.
func outer() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (it makes a network namespace)")
	}
	ns := fmt.Sprintf("pnbench-%d", os.Getpid())
	if err := run("ip", "netns", "add", ns); err != nil {
		return err
	}
	defer run("ip", "netns", "del", ns)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{"--net=/run/netns/" + ns, "--", "unshare", "--mount", "--propagation", "private", "--", self}, os.Args[1:]...)
	cmd := exec.Command("nsenter", args...)
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
