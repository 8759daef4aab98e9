// Package cni is podnet's runtime side of the Container Network Interface: it finds the network
// configuration list, runs the plugins it names through libcni, and keeps its own libcni cache.
//
// It owns:
//   - choosing the conflist in Config.ConfDir (<data-dir>/cni/net.d) the way kubelet does: the
//     lexicographically first valid *.conflist, *.conf or *.json file; when the directory holds no
//     valid one, a default conflist for podnet's own plugin, netplug, is written there
//     (DefaultConflist) with the node's pod CIDR (config's network.podCIDR: by default a /24 of the cluster CIDR);
//   - the plugin search path (BinDirs: the directory of podnet's own binary first, then the
//     configured CNI bin dirs, by default /opt/cni/bin and /usr/lib/cni);
//   - ADD, CHECK and DEL per pod sandbox (Network.Add, Check, Del) with the CNI_ARGS kubelet passes
//     (IgnoreUnknown=1;K8S_POD_NAMESPACE;K8S_POD_NAME;K8S_POD_INFRA_CONTAINER_ID) and the
//     portMappings capability; a DEL that knows no netns or port mappings (after a restart) takes
//     them from libcni's cache, so hostPort rules go too;
//   - GC with the live sandboxes as valid attachments (Network.GC): libcni DELs every attachment in
//     podnet's private cache (Config.CacheDir) that is not live, then, at cniVersion >= 1.1.0, sends
//     GC with cni.dev/valid-attachments to the plugins; the private cache dir means GC never touches
//     another runtime's attachments;
//   - STATUS (Network.Status), which feeds the Node's Ready condition: every plugin of the list must
//     be found in the bin dirs, and at cniVersion >= 1.1.0 the plugins are asked (libcni does not
//     send STATUS to older lists);
//   - a timeout on every libcni call (Config.Timeout, default 30s). Plugins run in their own process
//     group, which is killed when the timeout expires, so a plugin that forks a child holding its
//     stdout cannot hold the caller past the deadline.
//
// Plugins are spawned from the calling OS thread and so run in that thread's network namespace:
// podnet runs whole in the node's namespace; tests call from a thread locked into a namespace of
// their own (pkg/ns.NetNS.Do).
//
// Failed ADDs are rolled back with a best-effort DEL so that no IP, veth or rule leaks.
package cni
