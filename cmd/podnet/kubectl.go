package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// defaultDataDir is where `podnet serve` keeps its state unless told otherwise; PODNET_DATA_DIR
// points `podnet kubectl` at another node's kubeconfig.
const defaultDataDir = "/var/lib/podnet"

// newKubectlCommand only documents the subcommand: main hands `podnet kubectl ...` to kubectl
// before cobra sees it, so kubectl parses its own flags.
func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl [args...]",
		Short:              "Run the embedded kubectl against this node (KUBECONFIG, else <data-dir>/kubeconfig)",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			os.Exit(runKubectl(args))
			return nil
		},
	}
}

// runKubectl runs the real kubectl (k8s.io/kubectl/pkg/cmd) pointed at this node's kubeconfig
// unless KUBECONFIG is set (an explicit --kubeconfig flag wins over both). How it is run depends
// on the build: see kubectl_image.go and kubectl_linked.go.
func runKubectl(args []string) int {
	if os.Getenv("KUBECONFIG") == "" {
		dir := os.Getenv("PODNET_DATA_DIR")
		if dir == "" {
			dir = defaultDataDir
		}
		os.Setenv("KUBECONFIG", filepath.Join(dir, "kubeconfig"))
	}
	return execKubectl(args)
}
