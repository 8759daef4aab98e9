//go:build !podnet_kubectl_image

package main

import (
	"os"

	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// The client auth plugins (exec, oidc), as upstream's cmd/kubectl registers them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// execKubectl runs kubectl inside this process, as upstream's cmd/kubectl main does. Plain `go
// build` gets this variant; `make build` embeds kubectl as an image of its own instead
// (kubectl_image.go) so that the daemon does not carry kubectl's initialisers.
func execKubectl(args []string) int {
	os.Args = append([]string{"kubectl"}, args...)
	if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
	return 0
}
