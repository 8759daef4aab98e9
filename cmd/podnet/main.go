// Command podnet is a single-host Kubernetes node: `podnet serve` runs it, `podnet kubectl`
// drives it. This package only parses flags and wires components together.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/podnet/podnet/runtime/executor"
	"github.com/podnet/podnet/version"
)

func main() {
	// A container's init stage: straight to the executor, no cobra on a container's start path.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		os.Exit(executor.RunInit(os.Args[2:]))
	}
	// kubectl parses its own flags: hand it everything after "kubectl" untouched.
	if len(os.Args) > 1 && os.Args[1] == "kubectl" {
		os.Exit(runKubectl(os.Args[2:]))
	}
	root := &cobra.Command{
		Use:           "podnet",
		Short:         "A single-host Kubernetes node",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newKubectlCommand(), newImageCommand(), newInitCommand(), newVersionCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podnet:", err)
		os.Exit(1)
	}
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print podnet's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "podnet %s (Kubernetes API %s)\n", version.Version, version.KubernetesVersion)
		},
	}
}
