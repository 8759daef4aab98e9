// Command podnet-shim is the per-container shim; its logic lives in package runtime/shim/proc. It
// must stay small (standard library, x/sys, creack/pty): one runs beside every container.
package main

import (
	"os"

	"github.com/podnet/podnet/runtime/shim/proc"
)

func main() { os.Exit(proc.Main(os.Args[1:])) }
