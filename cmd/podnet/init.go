package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/podnet/podnet/runtime/executor"
)

// newInitCommand is `podnet init`, the built-in executor's in-container stage. main runs
// executor.RunInit before cobra is set up (a container's start must not pay for cobra or
// Kubernetes' initialisers); this command only makes it appear in help and work if reached anyway.
func newInitCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "init run --bundle DIR | init exec --bundle DIR --pid PID",
		Short:              "Container init (internal: run by podnet-shim and exec)",
		Hidden:             true,
		DisableFlagParsing: true,
		Run: func(cmd *cobra.Command, args []string) {
			os.Exit(executor.RunInit(args))
		},
	}
}
