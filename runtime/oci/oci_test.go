package oci

func plainOptions() Options {
	return Options{
		Args:       []string{"nginx", "-g", "daemon off;"},
		Env:        []string{"NGINX_VERSION=1.22"},
		Cwd:        "/srv",
		Hostname:   "web",
		User:       User{UID: 101, GID: 101, AdditionalGids: []uint32{5}},
		Namespaces: Namespaces{Net: "/run/podnet/ns/p1/net", UTS: "/run/podnet/ns/p1/uts", IPC: "/run/podnet/ns/p1/ipc"},
		Mounts: []Mount{
			{Source: "/var/lib/podnet/pods/u1/volumes/data", Destination: "/srv/data/"},
			{Source: "/var/lib/podnet/pods/u1/hosts", Destination: "/etc/hosts"},
			{Source: "/var/lib/podnet/pods/u1/resolv.conf", Destination: "/etc/resolv.conf", Readonly: true},
			{Source: "/var/lib/podnet/pods/u1/shm", Destination: "/dev/shm"},
		},
		CgroupsPath: "/podnet/n1/podu1/c1",
	}
}
