package node

import (
	"context"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podnet/podnet/api/streaming"
	"github.com/podnet/podnet/runtime/sandbox"
)

// Sandboxes makes and removes pod sandboxes (*sandbox.Manager).
type Sandboxes interface {
	Create(ctx context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error)
	Get(podUID string) (*sandbox.Sandbox, error)
	List() ([]*sandbox.Sandbox, error)
	Remove(ctx context.Context, podUID string) error
}

// Runtime runs containers and holds images (runtime/containers over runtime/image).
type Runtime interface {
	// EnsureImage makes the image present as policy says and returns what the container
	// needs of it. events receives Pulling/Pulled/offline-Warning as kubelet records them.
	EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy, events func(eventType, reason, msg string)) (*ImageInfo, error)
	// Start makes and starts a container; its state is then reported by List and Wait.
	Start(ctx context.Context, req *ContainerRequest) (*ContainerState, error)
	// List returns every container the runtime holds, running or exited.
	List() ([]*ContainerState, error)
	// Wait returns when the container has exited (or ctx ends).
	Wait(ctx context.Context, id string) (*ContainerState, error)
	// Stop sends SIGTERM, waits up to grace, then SIGKILL; it returns once the container exited.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes an exited container (bundle, rootfs, cgroup, shim state); not its log.
	Remove(ctx context.Context, id string) error
	// Exec runs a command inside a running container.
	Exec(ctx context.Context, id string, cmd []string, s streaming.Streams) (exitCode int, err error)
	// Attach connects streams to the container's own stdio.
	Attach(ctx context.Context, id string, s streaming.Streams) error
	// Log writes the container's log as opts say; following ends when the container has exited
	// and its log is drained, or ctx ends.
	Log(ctx context.Context, c *ContainerState, opts LogOptions, stdout, stderr io.Writer) error
}

// LogOptions select what Log writes (kubectl logs' flags).
type LogOptions struct {
	Follow     bool
	TailLines  *int64
	Since      time.Time
	Timestamps bool
	LimitBytes *int64
}

// ImageInfo is what starting a container needs of its image.
type ImageInfo struct {
	Ref        string // as the pod spec names it
	ID         string // sha256:… of the config: containerStatuses[].imageID
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
}

// ContainerState is one container instance (one attempt of a pod's container).
type ContainerState struct {
	ID      string
	PodUID  string
	Name    string
	Attempt int // the restart count when it was started
	Image   string
	ImageID string
	LogPath string

	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Running    bool
	ExitCode   int
	OOMKilled  bool
	// Message is an error from starting it (e.g. the executable was not found).
	Message string
}

// ContainerRequest is everything the runtime needs to start one container.
type ContainerRequest struct {
	PodUID, PodNamespace, PodName string
	Name                          string
	Attempt                       int
	Image                         *ImageInfo
	Sandbox                       *sandbox.Sandbox
	LogPath                       string
	Process                       Process
	Mounts                        []Mount
	Security                      Security
	Resources                     Resources
	TTY, Stdin, StdinOnce         bool
}

// Process is what runs: argv, env, cwd and identity.
type Process struct {
	Args []string
	Env  []string
	Cwd  string
	// User and Group are numeric; a name from the image's USER is resolved by the runtime
	// against the container's /etc/passwd (Username set, UID nil).
	UID, GID         *int64
	Username         string
	SupplementalGIDs []int64
}

// Mount is a bind mount into the container (volumes, /etc/hosts…).
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// Security is the container's effective security context.
type Security struct {
	Privileged             bool
	CapAdd, CapDrop        []string
	NoNewPrivileges        bool
	ReadOnlyRootFilesystem bool
	SeccompRuntimeDefault  bool
}

// Resources are the container's limits.
type Resources struct {
	MemoryLimit   int64 // bytes, 0 = none
	CPUMilliLimit int64 // 0 = none
	CPUMilliReq   int64
	PidsLimit     int64
}
