// Command kubectl is the upstream kubectl, built from the k8s.io/kubectl module that podnet already
// depends on, for machines whose kubectl is missing or older than 1.30. hack/deps.sh builds it into
// bin/kubectl with the component-base version stamped, so `kubectl version` reports v1.32.11.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Registers the client auth plugins (exec, oidc), as upstream's cmd/kubectl does.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	// RunNoErrOutput leaves error printing to CheckErr, which formats errors the way kubectl users
	// know ("error: ...", exit code 1) — the same pairing upstream's kubectl 1.32 main uses.
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
