package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/cgroups"
	"github.com/podnet/podnet/runtime/executor"
	"github.com/podnet/podnet/runtime/image"
	"github.com/podnet/podnet/runtime/oci"
	"github.com/podnet/podnet/runtime/shim"
)

// Config wires a Manager.
type Config struct {
	// Dir holds the bundles: <data-dir>/containers.
	Dir string
	// ShimDir holds the shims' state: <run-dir>/shims.
	ShimDir    string
	ShimBinary string
	Executor   executor.Executor
	// CgroupParent is the cgroup every container goes under: /podnet/<node-scope>.
	CgroupParent string
	Logger       *slog.Logger
	Now          func() time.Time
}

// Manager runs containers.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	shims map[string]*shim.Shim
}

// New makes a Manager.
func New(cfg Config) (*Manager, error) {
	var errs []error
	if cfg.Dir == "" || cfg.ShimDir == "" {
		errs = append(errs, errors.New("containers: Dir and ShimDir are required"))
	}
	if cfg.ShimBinary == "" {
		errs = append(errs, errors.New("containers: ShimBinary is required"))
	}
	if cfg.Executor == nil {
		errs = append(errs, errors.New("containers: Executor is required"))
	}
	if cfg.CgroupParent == "" {
		errs = append(errs, errors.New("containers: CgroupParent is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{cfg.Dir, cfg.ShimDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("containers: %w", err)
		}
	}
	return &Manager{cfg: cfg, log: log, shims: map[string]*shim.Shim{}}, nil
}

// Record is what a container's bundle remembers about it (container.json).
type Record struct {
	ID           string    `json:"id"`
	PodUID       string    `json:"podUID"`
	PodNamespace string    `json:"podNamespace"`
	PodName      string    `json:"podName"`
	Name         string    `json:"name"`
	Attempt      int       `json:"attempt"`
	Image        string    `json:"image"`
	ImageID      string    `json:"imageID"`
	LogPath      string    `json:"logPath"`
	CgroupsPath  string    `json:"cgroupsPath"`
	CreatedAt    time.Time `json:"createdAt"`
	// Started is set once the shim runs it; a record without it is a container whose start did
	// not finish (a crash) and is only good for removal.
	Started   bool      `json:"started"`
	StartedAt time.Time `json:"startedAt,omitzero"`
}

// State is a container as it is now.
type State struct {
	Record
	Running bool
	Exit    *shim.ExitStatus // set once it has exited
}

// Request is one container to start.
type Request struct {
	PodUID, PodNamespace, PodName, Name string
	Attempt                             int
	Image                               *image.Image
	ImageRef                            string
	LogPath                             string
	// Options are the runtime-spec options; Rootfs and CgroupsPath are the Manager's to fill.
	Options oci.Options
	// Username is the image's USER when it is a name: resolved in the container's /etc/passwd.
	Username              string
	TTY, Stdin, StdinOnce bool
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func (m *Manager) bundle(id string) string    { return filepath.Join(m.cfg.Dir, id) }
func (m *Manager) shimState(id string) string { return filepath.Join(m.cfg.ShimDir, id[:16]) }

// Start makes the bundle and starts the container under its shim. Whatever was made is removed
// when a step fails.
func (m *Manager) Start(ctx context.Context, req *Request) (st *State, err error) {
	id, err := newID()
	if err != nil {
		return nil, fmt.Errorf("container id: %w", err)
	}
	bundle := m.bundle(id)
	rec := Record{
		ID: id, PodUID: req.PodUID, PodNamespace: req.PodNamespace, PodName: req.PodName, Name: req.Name,
		Attempt: req.Attempt, Image: req.ImageRef, ImageID: req.Image.ID, LogPath: req.LogPath,
		CgroupsPath: filepath.Join(m.cfg.CgroupParent, "pod"+req.PodUID, id), CreatedAt: m.cfg.Now().UTC(),
	}
	if err := os.MkdirAll(bundle, 0o711); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := m.Remove(context.WithoutCancel(ctx), id); rerr != nil {
				m.log.Warn("rolling back container", "container", req.Name, "err", rerr)
			}
		}
	}()
	if err := writeRecord(bundle, &rec); err != nil {
		return nil, err
	}
	rootfs, err := image.MountRootfs(req.Image, bundle)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	opts := req.Options
	opts.Rootfs = rootfs
	opts.CgroupsPath = rec.CgroupsPath
	if req.Username != "" {
		if err := resolveUser(rootfs, req.Username, &opts.User); err != nil {
			return nil, err
		}
	}
	spec, err := oci.Generate(opts)
	if err != nil {
		return nil, fmt.Errorf("runtime spec: %w", err)
	}
	if err := oci.WriteBundle(bundle, spec); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(req.LogPath), 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	argv, cloneNS := m.cfg.Executor.RunArgv(bundle, id)
	s, err := shim.Start(ctx, shim.Config{
		Binary: m.cfg.ShimBinary, ID: id, StateDir: m.shimState(id), LogPath: req.LogPath,
		TTY: req.TTY, Stdin: req.Stdin, StdinOnce: req.StdinOnce, CloneNS: cloneNS,
		MemoryCgroup: memoryDir(rec.CgroupsPath), Argv: argv,
	})
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.shims[id] = s
	m.mu.Unlock()
	rec.Started, rec.StartedAt = true, m.cfg.Now().UTC()
	if err := writeRecord(bundle, &rec); err != nil {
		return nil, err
	}
	return m.state(rec), nil
}

// memoryDir is the memory controller's directory of a cgroup, for the shim's OOM check; empty
// when it cannot be known (the shim then reports no OOM kills).
func memoryDir(path string) string {
	cg, err := cgroups.Open(path)
	if err != nil {
		return ""
	}
	return cg.MemoryStatDir()
}

// shimOf returns the container's shim, adopting it after a restart.
func (m *Manager) shimOf(id string) (*shim.Shim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.shims[id]; s != nil {
		return s, nil
	}
	s, err := shim.Adopt(m.shimState(id))
	if err != nil {
		return nil, err
	}
	m.shims[id] = s
	return s, nil
}

func (m *Manager) state(rec Record) *State {
	st := &State{Record: rec}
	if !rec.Started {
		return st
	}
	s, err := m.shimOf(rec.ID)
	if err != nil {
		// No shim state: it died before it could write anything, or the run dir went (reboot).
		st.Exit = &shim.ExitStatus{ExitCode: 255, FinishedAt: rec.StartedAt}
		return st
	}
	if exit, ok := s.Exited(); ok {
		st.Exit = exit
		return st
	}
	if st.Running = s.Alive(); st.Running {
		return st
	}
	// The shim writes exit.json and then exits: it may have done both since the first look.
	if exit, ok := s.Exited(); ok {
		st.Exit = exit
		return st
	}
	st.Exit = &shim.ExitStatus{ExitCode: 255, FinishedAt: m.cfg.Now().UTC()}
	return st
}

// List returns every container, running or not.
func (m *Manager) List() ([]*State, error) {
	ents, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 64 {
			continue
		}
		rec, err := readRecord(m.bundle(e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			rec = &Record{ID: e.Name()} // crashed before its record: only good for removal
		} else if err != nil {
			return nil, err
		}
		out = append(out, m.state(*rec))
	}
	return out, nil
}

// Get returns one container.
func (m *Manager) Get(id string) (*State, error) {
	rec, err := readRecord(m.bundle(id))
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return m.state(*rec), nil
}

// Wait returns once the container has exited.
func (m *Manager) Wait(ctx context.Context, id string) (*State, error) {
	s, err := m.shimOf(id)
	if err != nil {
		return nil, err
	}
	if _, err := s.Wait(ctx); err != nil {
		return nil, err
	}
	return m.Get(id)
}

// Stop sends SIGTERM (or the image's stop signal), waits up to grace, then SIGKILL, and
// returns once the container has exited.
func (m *Manager) Stop(ctx context.Context, id string, grace time.Duration, stopSignal syscall.Signal) error {
	s, err := m.shimOf(id)
	if err != nil {
		return nil // no shim: nothing runs
	}
	if _, done := s.Exited(); done || !s.Alive() {
		return nil
	}
	if stopSignal == 0 {
		stopSignal = unix.SIGTERM
	}
	if grace > 0 {
		if err := m.signal(id, s, stopSignal); err != nil {
			return fmt.Errorf("stopping container: %w", err)
		}
		wctx, cancel := context.WithTimeout(ctx, grace)
		_, err := s.Wait(wctx)
		cancel()
		if err == nil {
			return nil
		}
	}
	if err := m.signal(id, s, unix.SIGKILL); err != nil {
		return fmt.Errorf("killing container: %w", err)
	}
	_, err = s.Wait(ctx)
	return err
}

// signal signals the container's own process: the shim's child for the built-in executor, the
// process runc started for an OCI runtime (killing runc itself would orphan the container).
func (m *Manager) signal(id string, s *shim.Shim, sig syscall.Signal) error {
	pid, err := m.cfg.Executor.ContainerPid(m.bundle(id), s.ChildPid())
	if err != nil || pid == s.ChildPid() {
		err = s.Signal(sig)
	} else {
		err = unix.Kill(pid, sig)
	}
	if errors.Is(err, unix.ESRCH) || errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Remove deletes an exited container: executor state and cgroup, rootfs mount, shim state,
// bundle. It is idempotent; a running container is an error.
func (m *Manager) Remove(ctx context.Context, id string) error {
	bundle := m.bundle(id)
	if s, err := m.shimOf(id); err == nil {
		if err := s.Remove(); err != nil {
			return fmt.Errorf("removing container %s: %w", id[:12], err)
		}
		s.Close()
	}
	m.mu.Lock()
	delete(m.shims, id)
	m.mu.Unlock()
	var errs []error
	if err := m.cfg.Executor.Delete(ctx, id, bundle); err != nil {
		errs = append(errs, err)
	}
	if err := image.UnmountRootfs(bundle); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(m.shimState(id)); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing container %s: %w", id[:12], err)
	}
	if err := os.RemoveAll(bundle); err != nil {
		return fmt.Errorf("removing container %s: %w", id[:12], err)
	}
	return nil
}

// Exec runs args in the running container with its own process settings (user, env, cwd,
// capabilities), as kubectl exec does.
func (m *Manager) Exec(ctx context.Context, id string, args []string, req executor.ExecRequest) (int, error) {
	s, err := m.shimOf(id)
	if err != nil {
		return 0, fmt.Errorf("container %s is not running", id[:12])
	}
	bundle := m.bundle(id)
	pid, err := m.cfg.Executor.ContainerPid(bundle, s.ChildPid())
	if err != nil {
		return 0, err
	}
	spec, err := executor.ReadSpec(bundle)
	if err != nil {
		return 0, err
	}
	proc := *spec.Process
	proc.Args = args
	proc.Terminal = false
	req.ID, req.Bundle, req.Pid, req.Process = id, bundle, pid, proc
	return m.cfg.Executor.Exec(ctx, req)
}

// Attach connects streams to the container's stdio through its shim.
func (m *Manager) Attach(ctx context.Context, id string, o shim.AttachOptions) error {
	s, err := m.shimOf(id)
	if err != nil {
		return err
	}
	return s.Attach(ctx, o)
}

// Done is closed when the container has exited (for following logs).
func (m *Manager) Done(id string) <-chan struct{} {
	s, err := m.shimOf(id)
	if err != nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return s.Done()
}

const recordFile = "container.json"

func writeRecord(dir string, r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, recordFile), data, 0o600); err != nil {
		return fmt.Errorf("container record: %w", err)
	}
	return nil
}

func readRecord(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("container record %s: %w", dir, err)
	}
	return &r, nil
}
