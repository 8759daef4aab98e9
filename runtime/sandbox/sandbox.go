package sandbox

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
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/podnet/podnet/cni"
)

// Network is the part of a CNI network a sandbox needs (*cni.Network).
type Network interface {
	Add(ctx context.Context, a cni.Attachment) (*cni.Result, error)
	Del(ctx context.Context, a cni.Attachment) error
}

// Namespaces makes and removes the pinned namespaces of a sandbox; the real one is in ns_linux.go.
type Namespaces interface {
	// Pin makes new network, UTS and IPC namespaces (lo up, the hostname set) and bind-mounts each
	// onto paths[kind] ("net", "uts", "ipc").
	Pin(paths map[string]string, hostname string) error
	// Unpin unmounts and removes what Pin made; missing paths are not an error.
	Unpin(paths map[string]string) error
}

// Config wires a Manager.
type Config struct {
	// Dir holds one directory per sandbox: <run-dir>/pods.
	Dir        string
	Network    Network
	Namespaces Namespaces // nil means the kernel's (HostNamespaces)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Manager makes and removes sandboxes.
type Manager struct {
	cfg Config
	log *slog.Logger
}

// New makes a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("sandbox: Config.Dir is required")
	}
	if cfg.Network == nil {
		return nil, errors.New("sandbox: Config.Network is required")
	}
	if cfg.Namespaces == nil {
		cfg.Namespaces = HostNamespaces{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("sandbox dir: %w", err)
	}
	return &Manager{cfg: cfg, log: log}, nil
}

// Spec says what sandbox a pod needs.
type Spec struct {
	PodUID       string
	Namespace    string
	Name         string
	Hostname     string
	PortMappings []cni.PortMapping
}

// Record is what a sandbox directory remembers about itself (sandbox.json): enough to tear it
// down after a crash, with the CNI attachment exactly as it was added.
type Record struct {
	ID           string            `json:"id"`
	PodUID       string            `json:"podUID"`
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	Hostname     string            `json:"hostname"`
	PortMappings []cni.PortMapping `json:"portMappings,omitempty"`
	IPs          []netip.Addr      `json:"ips,omitempty"`
	Created      time.Time         `json:"created"`
	// Ready is set once namespaces and network are in place; a record without it is a sandbox
	// whose creation did not finish (a crash) and is only good for removal.
	Ready bool `json:"ready"`
}

// Sandbox is a pod's sandbox as made.
type Sandbox struct {
	Record
	Dir string
}

// NetNS is the path of the pinned network namespace.
func (s *Sandbox) NetNS() string { return nsPath(s.Dir, "net") }

// UTSNS is the path of the pinned UTS namespace.
func (s *Sandbox) UTSNS() string { return nsPath(s.Dir, "uts") }

// IPCNS is the path of the pinned IPC namespace.
func (s *Sandbox) IPCNS() string { return nsPath(s.Dir, "ipc") }

// File is the path of a shared file ("hosts", "resolv.conf", "hostname").
func (s *Sandbox) File(name string) string { return filepath.Join(s.Dir, "etc", name) }

// ErrNotFound says a pod has no sandbox.
var ErrNotFound = errors.New("sandbox not found")

var nsKinds = []string{"net", "uts", "ipc"}

func nsPath(dir, kind string) string { return filepath.Join(dir, "ns", kind) }

func nsPaths(dir string) map[string]string {
	m := make(map[string]string, len(nsKinds))
	for _, k := range nsKinds {
		m[k] = nsPath(dir, k)
	}
	return m
}

func (m *Manager) dir(podUID string) string { return filepath.Join(m.cfg.Dir, podUID) }

// Create makes the pod's sandbox: namespaces, then the CNI ADD. Everything made is undone when a
// step fails. The record is written before anything else, so that a crash at any point leaves a
// directory that Remove (or reconciliation at start) knows how to clean up.
func (m *Manager) Create(ctx context.Context, spec Spec) (sb *Sandbox, err error) {
	if spec.PodUID == "" || filepath.Base(spec.PodUID) != spec.PodUID {
		return nil, fmt.Errorf("sandbox: invalid pod UID %q", spec.PodUID)
	}
	dir := m.dir(spec.PodUID)
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("sandbox for pod %s already exists", spec.PodUID)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	sb = &Sandbox{Dir: dir, Record: Record{
		ID: id, PodUID: spec.PodUID, Namespace: spec.Namespace, Name: spec.Name,
		Hostname: spec.Hostname, PortMappings: spec.PortMappings, Created: m.cfg.Now().UTC(),
	}}
	for _, d := range []string{filepath.Join(dir, "ns"), filepath.Join(dir, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox dir: %w", err)
		}
	}
	defer func() {
		if err != nil {
			if rerr := m.remove(context.WithoutCancel(ctx), sb); rerr != nil {
				m.log.Warn("rolling back sandbox", "pod", spec.Namespace+"/"+spec.Name, "err", rerr)
			}
		}
	}()
	if err := writeRecord(dir, &sb.Record); err != nil {
		return sb, err
	}
	if err := m.cfg.Namespaces.Pin(nsPaths(dir), spec.Hostname); err != nil {
		return sb, fmt.Errorf("pinning namespaces: %w", err)
	}
	res, err := m.cfg.Network.Add(ctx, attachment(sb))
	if err != nil {
		return sb, fmt.Errorf("setting up the pod network: %w", err)
	}
	sb.IPs = res.PodIPs()
	sb.Ready = true
	if err := writeRecord(dir, &sb.Record); err != nil {
		return sb, err
	}
	return sb, nil
}

func attachment(sb *Sandbox) cni.Attachment {
	return cni.Attachment{
		ContainerID: sb.ID, NetNS: sb.NetNS(), PodNamespace: sb.Namespace, PodName: sb.Name,
		PortMappings: sb.PortMappings,
	}
}

// WriteFiles writes the files the pod's containers share, each atomically.
func (s *Sandbox) WriteFiles(files map[string][]byte) error {
	for name, data := range files {
		if err := atomicfile.Write(s.File(name), data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// Get returns the sandbox of a pod, or ErrNotFound.
func (m *Manager) Get(podUID string) (*Sandbox, error) {
	dir := m.dir(podUID)
	rec, err := readRecord(dir)
	if err != nil {
		return nil, err
	}
	return &Sandbox{Record: *rec, Dir: dir}, nil
}

// List returns every sandbox on disk, finished or not.
func (m *Manager) List() ([]*Sandbox, error) {
	ents, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("listing sandboxes: %w", err)
	}
	var out []*Sandbox
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(m.cfg.Dir, e.Name())
		rec, err := readRecord(dir)
		if errors.Is(err, ErrNotFound) {
			// A crash between mkdir and the first record: nothing else can exist yet.
			rec = &Record{PodUID: e.Name()}
		} else if err != nil {
			return nil, err
		}
		out = append(out, &Sandbox{Record: *rec, Dir: dir})
	}
	return out, nil
}

// Remove tears down a pod's sandbox: CNI DEL, namespaces, directory. Removing what is not there
// is not an error.
func (m *Manager) Remove(ctx context.Context, podUID string) error {
	sb, err := m.Get(podUID)
	if errors.Is(err, ErrNotFound) {
		sb = &Sandbox{Dir: m.dir(podUID), Record: Record{PodUID: podUID}}
	} else if err != nil {
		return err
	}
	return m.remove(ctx, sb)
}

func (m *Manager) remove(ctx context.Context, sb *Sandbox) error {
	if sb.ID != "" {
		// DEL even when ADD never finished: the plugin may have made part of the attachment.
		if err := m.cfg.Network.Del(ctx, attachment(sb)); err != nil {
			return fmt.Errorf("tearing down the pod network: %w", err)
		}
	}
	if err := m.cfg.Namespaces.Unpin(nsPaths(sb.Dir)); err != nil {
		return err
	}
	if err := os.RemoveAll(sb.Dir); err != nil {
		return fmt.Errorf("removing sandbox dir: %w", err)
	}
	return nil
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("sandbox id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

const recordFile = "sandbox.json"

func writeRecord(dir string, r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, recordFile), data, 0o600); err != nil {
		return fmt.Errorf("writing sandbox record: %w", err)
	}
	return nil
}

func readRecord(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading sandbox record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("sandbox record %s: %w", dir, err)
	}
	return &r, nil
}

// Attachments are the CNI attachments of every sandbox on disk, finished or not: the valid
// attachments a CNI GC must keep.
func (m *Manager) Attachments() ([]cni.Attachment, error) {
	all, err := m.List()
	if err != nil {
		return nil, err
	}
	var out []cni.Attachment
	for _, sb := range all {
		if sb.ID != "" {
			out = append(out, attachment(sb))
		}
	}
	return out, nil
}
