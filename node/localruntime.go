package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/podnet/podnet/api/streaming"
	"github.com/podnet/podnet/runtime/containers"
	"github.com/podnet/podnet/runtime/executor"
	"github.com/podnet/podnet/runtime/image"
	"github.com/podnet/podnet/runtime/oci"
	"github.com/podnet/podnet/runtime/shim"
)

// LocalRuntime is the Runtime of this node: podnet's image store and container manager.
type LocalRuntime struct {
	Images     *image.Store
	Containers *containers.Manager
	// Offline: never pull (config runtime.offline).
	Offline bool
	Now     func() time.Time
}

var _ Runtime = (*LocalRuntime)(nil)

func imageInfo(ref string, img *image.Image) *ImageInfo {
	c := img.Config
	return &ImageInfo{Ref: ref, ID: img.ID, Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env,
		WorkingDir: c.WorkingDir, User: c.User}
}

// EnsureImage applies imagePullPolicy as kubelet does (an unset policy means Always for
// :latest or no tag, else IfNotPresent). When the registry cannot be reached and the image is
// present, it is used and a Warning says so: a single node must keep working offline.
func (r *LocalRuntime) EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy, ev func(t, reason, msg string)) (*ImageInfo, error) {
	local, getErr := r.Images.Get(ref)
	if getErr != nil && !errors.Is(getErr, image.ErrNotFound) {
		return nil, getErr
	}
	if policy == "" {
		policy = corev1.PullIfNotPresent
		if image.IsLatest(ref) {
			policy = corev1.PullAlways
		}
	}
	if r.Offline {
		if local == nil {
			return nil, fmt.Errorf("image %q is not present on the node and the node is offline (runtime.offline): import it with podnet image import", ref)
		}
		policy = corev1.PullIfNotPresent
	}
	switch {
	case policy == corev1.PullNever && local == nil:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", ref)
		ev(corev1.EventTypeWarning, "ErrImageNeverPull", msg)
		return nil, errors.New(msg)
	case policy != corev1.PullAlways && local != nil:
		ev(corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Container image %q already present on machine", ref))
		return imageInfo(ref, local), nil
	}
	ev(corev1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q", ref))
	start := r.now()
	img, err := r.Images.Pull(ctx, ref, nil)
	if err != nil {
		if local != nil && errors.Is(err, image.ErrRegistryUnreachable) {
			ev(corev1.EventTypeWarning, "PullFailedUsingLocal", fmt.Sprintf(
				"Could not reach the registry for image %q (%v); using the image present on the node", ref, err))
			return imageInfo(ref, local), nil
		}
		return nil, err
	}
	d := r.now().Sub(start).Round(time.Millisecond)
	ev(corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", ref, d, d, img.Size))
	return imageInfo(ref, img), nil
}

func (r *LocalRuntime) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Start implements Runtime.
func (r *LocalRuntime) Start(ctx context.Context, req *ContainerRequest) (*ContainerState, error) {
	img, err := r.Images.Get(req.Image.ID)
	if err != nil {
		return nil, err
	}
	st, err := r.Containers.Start(ctx, &containers.Request{
		PodUID: req.PodUID, PodNamespace: req.PodNamespace, PodName: req.PodName, Name: req.Name,
		Attempt: req.Attempt, Image: img, ImageRef: req.Image.Ref, LogPath: req.LogPath,
		Options: ociOptions(req), Username: req.Process.Username,
		TTY: req.TTY, Stdin: req.Stdin, StdinOnce: req.StdinOnce,
	})
	if err != nil {
		return nil, err
	}
	return convertState(st), nil
}

// ociOptions is the runtime spec of a container request.
func ociOptions(req *ContainerRequest) oci.Options {
	o := oci.Options{
		Args: req.Process.Args, Env: req.Process.Env, Cwd: req.Process.Cwd,
		ReadonlyRootfs: req.Security.ReadOnlyRootFilesystem,
		CapAdd:         req.Security.CapAdd, CapDrop: req.Security.CapDrop,
		Privileged: req.Security.Privileged, NoNewPrivileges: req.Security.NoNewPrivileges,
		Seccomp:  oci.SeccompUnconfined,
		Terminal: req.TTY,
		Resources: oci.Resources{MemoryLimit: req.Resources.MemoryLimit, CPULimitMilli: req.Resources.CPUMilliLimit,
			CPURequestMilli: req.Resources.CPUMilliReq, PidsLimit: req.Resources.PidsLimit},
		Rlimits: daemonRlimits(),
	}
	if req.Security.SeccompRuntimeDefault {
		o.Seccomp = oci.SeccompRuntimeDefault
	}
	if req.Process.UID != nil {
		o.User.UID = uint32(*req.Process.UID)
	}
	if req.Process.GID != nil {
		o.User.GID = uint32(*req.Process.GID)
	}
	for _, g := range req.Process.SupplementalGIDs {
		o.User.AdditionalGids = append(o.User.AdditionalGids, uint32(g))
	}
	if sb := req.Sandbox; sb != nil {
		o.Namespaces = oci.Namespaces{Net: sb.NetNS(), UTS: sb.UTSNS(), IPC: sb.IPCNS()}
	}
	for _, m := range req.Mounts {
		o.Mounts = append(o.Mounts, oci.Mount{Source: m.Source, Destination: m.Destination, Readonly: m.ReadOnly})
	}
	return o
}

// daemonRlimits gives containers the daemon's own open-files limit: a fixed 1048576 fails
// where the daemon itself may not raise its hard limit (no CAP_SYS_RESOURCE, as in some CI
// sandboxes), and kubelet with containerd passes the runtime's limits through the same way.
func daemonRlimits() []specs.POSIXRlimit {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return nil
	}
	return []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: l.Max, Soft: l.Max}}
}

func convertState(st *containers.State) *ContainerState {
	c := &ContainerState{
		ID: st.ID, PodUID: st.PodUID, Name: st.Name, Attempt: st.Attempt, Image: st.Image, ImageID: st.ImageID,
		LogPath: st.LogPath, CreatedAt: st.CreatedAt, StartedAt: st.StartedAt, Running: st.Running,
	}
	if e := st.Exit; e != nil {
		c.ExitCode, c.OOMKilled, c.FinishedAt = e.ExitCode, e.OOMKilled, e.FinishedAt
		if !e.StartedAt.IsZero() {
			c.StartedAt = e.StartedAt
		}
	}
	return c
}

// List implements Runtime.
func (r *LocalRuntime) List() ([]*ContainerState, error) {
	all, err := r.Containers.List()
	if err != nil {
		return nil, err
	}
	out := make([]*ContainerState, 0, len(all))
	for _, st := range all {
		out = append(out, convertState(st))
	}
	return out, nil
}

// Wait implements Runtime.
func (r *LocalRuntime) Wait(ctx context.Context, id string) (*ContainerState, error) {
	st, err := r.Containers.Wait(ctx, id)
	if err != nil {
		return nil, err
	}
	return convertState(st), nil
}

// Stop implements Runtime.
func (r *LocalRuntime) Stop(ctx context.Context, id string, grace time.Duration) error {
	return r.Containers.Stop(ctx, id, grace, syscall.SIGTERM)
}

// Remove implements Runtime.
func (r *LocalRuntime) Remove(ctx context.Context, id string) error {
	return r.Containers.Remove(ctx, id)
}

// Exec implements Runtime.
func (r *LocalRuntime) Exec(ctx context.Context, id string, cmd []string, s streaming.Streams) (int, error) {
	req := executor.ExecRequest{Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr, TTY: s.TTY}
	if s.Resize != nil {
		req.Resize = convertSizes(ctx, s.Resize, func(sz streaming.TerminalSize) executor.Size {
			return executor.Size{Width: sz.Width, Height: sz.Height}
		})
	}
	return r.Containers.Exec(ctx, id, cmd, req)
}

// convertSizes relays terminal sizes in the form the receiving side takes, until in closes or
// ctx ends.
func convertSizes[T any](ctx context.Context, in <-chan streaming.TerminalSize, conv func(streaming.TerminalSize) T) <-chan T {
	out := make(chan T)
	go func() {
		defer close(out)
		for sz := range in {
			select {
			case out <- conv(sz):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Attach implements Runtime.
func (r *LocalRuntime) Attach(ctx context.Context, id string, s streaming.Streams) error {
	o := shim.AttachOptions{Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr}
	if s.Resize != nil {
		o.Resize = convertSizes(ctx, s.Resize, func(sz streaming.TerminalSize) shim.Size {
			return shim.Size{Rows: sz.Height, Cols: sz.Width}
		})
	}
	return r.Containers.Attach(ctx, id, o)
}

// Log implements Runtime.
func (r *LocalRuntime) Log(ctx context.Context, c *ContainerState, o LogOptions, stdout, stderr io.Writer) error {
	opts := shim.LogOptions{Follow: o.Follow, TailLines: o.TailLines, Since: o.Since, Timestamps: o.Timestamps, LimitBytes: o.LimitBytes}
	if o.Follow {
		opts.Done = r.Containers.Done(c.ID)
	}
	return shim.ReadLog(ctx, c.LogPath, opts, stdout, stderr)
}
