package containers

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/podnet/podnet/runtime/oci"
)

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nwww-data:x:3333:3333::/var/www:/usr/sbin/nologin\nbad:x:nope:1::/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\nwww-data:x:33:\nadm:x:4:syslog,www-data\nweb:x:1000:www-data\n"), 0o644)
	// An absolute link resolves inside the rootfs (uid 3333 there, 33 on a Debian host).
	os.Symlink("/etc/passwd", filepath.Join(root, "etc", "link"))
	cases := []struct{ name, want string }{
		{"www-data", "3333:3333 [4 1000]"},
		{"root", "0:0 []"},
		{"nobody", "unable to find user nobody: no matching entries in passwd file"},
		{"bad", "unable to find user bad: no matching entries in passwd file"},
	}
	for _, c := range cases {
		var u oci.User
		got := ""
		if err := resolveUser(root, c.name, &u); err != nil {
			got = err.Error()
		} else {
			got = fmt.Sprintf("%d:%d %v", u.UID, u.GID, u.AdditionalGids)
		}
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	f, err := openInRoot(root, "/etc/link")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if uid, _, ok := lookup(f, "www-data"); !ok || uid != 3333 {
		t.Errorf("a symlink to /etc/passwd read the host's file, not the rootfs's")
	}
	if err := resolveUser(t.TempDir(), "x", &oci.User{}); err == nil {
		t.Error("an image without /etc/passwd resolved a user")
	}
}
