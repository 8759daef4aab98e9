// Command netplug is podnet's CNI plugin; its logic lives in package netplug.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/podnet/podnet/netplug"
)

func main() {
	p := &netplug.Plugin{NewFirewall: netplug.NewNftFirewall}
	skel.PluginMainFuncs(p.Funcs(), netplug.SupportedVersions, "netplug: podnet's bridge CNI plugin")
}
