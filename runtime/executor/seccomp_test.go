package executor

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podnet/podnet/runtime/seccomp"
)

// seccompCheck tries what RuntimeDefault forbids (and CAP_SYS_ADMIN would otherwise not even
// be needed for: a user namespace) and something it allows.
const seccompCheck = `unshare -U true 2>/dev/null; echo "unshare: $?"
mount -t tmpfs none /tmp 2>/dev/null; echo "mount: $?"
grep Seccomp: /proc/self/status
echo allowed`

const seccompWant = "unshare: 1\nmount: 1\nSeccomp:\t2\nallowed\n"

func TestSeccompRuntimeDefault(t *testing.T) {
	for _, nnp := range []bool{true, false} {
		t.Run(map[bool]string{true: "no_new_privs", false: "privilege escalation allowed"}[nnp], func(t *testing.T) {
			p := newPod(t, "testpod")
			edit := func(s *specs.Spec) {
				s.Process.NoNewPrivileges = nnp
				s.Linux.Seccomp = seccomp.RuntimeDefault(defaultCaps)
			}
			bundle, _ := newBundle(t, p, []string{"sh", "-c", seccompCheck}, edit)
			if r := runBuiltin(t, bundle); r != (result{stdout: seccompWant}) {
				t.Errorf("container: %+v, want stdout %q", r, seccompWant)
			}

			var spec specs.Spec
			bundle, id := newBundle(t, p, []string{"sleep", "1000"}, func(s *specs.Spec) { edit(s); spec = *s })
			pid := startContainer(t, bundle, nil)
			self, _ := os.Executable()
			t.Setenv(initEnv, "1")
			proc := *spec.Process
			proc.Args = []string{"sh", "-c", seccompCheck}
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, err := NewBuiltin(self).Exec(ctx, ExecRequest{ID: id, Bundle: bundle, Pid: pid, Process: proc, Stdout: &stdout, Stderr: &stderr})
			if err != nil || code != 0 || stdout.String() != seccompWant || stderr.Len() != 0 {
				t.Errorf("exec: %d, %v, stdout %q stderr %q; want stdout %q", code, err, stdout.String(), stderr.String(), seccompWant)
			}
		})
	}
}
