package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/registry"
	apiresource "github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// KubeletConfig wires the kubelet.
type KubeletConfig struct {
	NodeName  string
	NodeIP    netip.Addr
	Registry  *registry.Registry
	Sandboxes Sandboxes
	Runtime   Runtime
	DNS       DNSConfig
	// PodsDir holds each pod's volumes: <data-dir>/pods.
	PodsDir string
	// LogsDir holds container logs: <data-dir>/logs.
	LogsDir string
	Logger  *slog.Logger
	Now     func() time.Time
	// Mount is the mount(2) seam for memory-backed emptyDirs.
	Mount func(source, target, fstype string, flags uintptr, data string) error
	// BackoffInitial and BackoffMax are the restart back-off (kubelet: 10 s and 5 min).
	BackoffInitial, BackoffMax time.Duration
}

// Kubelet runs the pods bound to this node: one worker per pod reconciles the Pod object into
// a sandbox and containers and reports status; at start it adopts what survived the daemon and
// removes what no pod owns any more.
type Kubelet struct {
	cfg     KubeletConfig
	log     *slog.Logger
	reg     *registry.Registry
	events  *recorder
	backoff *backoff
	volumes *volumeSetup

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

// NewKubelet makes a kubelet; Run starts it.
func NewKubelet(cfg KubeletConfig) (*Kubelet, error) {
	if cfg.Registry == nil || cfg.Sandboxes == nil || cfg.Runtime == nil || cfg.NodeName == "" {
		return nil, errors.New("kubelet: Registry, Sandboxes, Runtime and NodeName are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Mount == nil {
		cfg.Mount = unix.Mount
	}
	if cfg.BackoffInitial == 0 {
		cfg.BackoffInitial = 10 * time.Second
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	k := &Kubelet{
		cfg: cfg, log: cfg.Logger, reg: cfg.Registry,
		events:  &recorder{reg: cfg.Registry, node: cfg.NodeName, now: cfg.Now, log: cfg.Logger},
		backoff: newBackoff(cfg.BackoffInitial, cfg.BackoffMax),
		volumes: &volumeSetup{podsDir: cfg.PodsDir, objs: cfg.Registry, mounter: cfg.Mount},
		workers: map[types.UID]*podWorker{},
	}
	return k, nil
}

// Run reconciles at start, then follows the pods bound to this node until ctx ends. Containers
// keep running when it returns: the shims hold them, and the next start adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	defer k.wg.Wait()
	rv, err := k.start(ctx)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		w, err := k.reg.Store().Watch(apiresource.Pods, "", rv)
		if err != nil {
			// Too old: list again, which also notices what the lost events said.
			if rv, err = k.resync(ctx); err != nil {
				k.log.Warn("kubelet: listing pods", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		rv = k.follow(ctx, w, rv)
		w.Stop()
	}
	return nil
}

func (k *Kubelet) mine(obj any) (*corev1.Pod, bool) {
	p, ok := obj.(*corev1.Pod)
	return p, ok && p.Spec.NodeName == k.cfg.NodeName
}

// follow dispatches watch events to workers and returns the last resourceVersion seen.
func (k *Kubelet) follow(ctx context.Context, w *store.Watcher, rv uint64) uint64 {
	for {
		select {
		case <-ctx.Done():
			return rv
		case e, ok := <-w.Events():
			if !ok {
				return rv
			}
			rv = e.RV
			pod, mine := k.mine(e.Object)
			if !mine {
				continue
			}
			if e.Type == watch.Deleted {
				k.update(ctx, pod.UID, nil)
				continue
			}
			k.update(ctx, pod.UID, pod.DeepCopy())
		}
	}
}

// start removes what no pod owns (sandboxes and containers of pods that are gone) and starts a
// worker for every pod of this node, which adopts the pod's surviving sandbox and containers.
func (k *Kubelet) start(ctx context.Context) (uint64, error) {
	pods, rv, err := k.listMine()
	if err != nil {
		return 0, err
	}
	live := map[string]bool{}
	for _, p := range pods {
		live[string(p.UID)] = true
	}
	if err := k.removeOrphans(ctx, live); err != nil {
		k.log.Warn("kubelet: cleaning up after pods that are gone", "err", err)
	}
	for _, p := range pods {
		k.update(ctx, p.UID, p)
	}
	return rv, nil
}

func (k *Kubelet) listMine() ([]*corev1.Pod, uint64, error) {
	sel := fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName)
	objs, rv, err := k.reg.List(apiresource.Pods, "", registry.ListOptions{Fields: sel})
	if err != nil {
		return nil, 0, fmt.Errorf("listing pods: %w", err)
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		pods = append(pods, o.(*corev1.Pod))
	}
	return pods, rv, nil
}

// resync lists again after a watch could not resume: pods that vanished meanwhile are told so.
func (k *Kubelet) resync(ctx context.Context) (uint64, error) {
	pods, rv, err := k.listMine()
	if err != nil {
		return 0, err
	}
	seen := map[types.UID]bool{}
	for _, p := range pods {
		seen[p.UID] = true
		k.update(ctx, p.UID, p)
	}
	k.mu.Lock()
	var gone []types.UID
	for uid := range k.workers {
		if !seen[uid] {
			gone = append(gone, uid)
		}
	}
	k.mu.Unlock()
	for _, uid := range gone {
		k.update(ctx, uid, nil)
	}
	return rv, nil
}

func (k *Kubelet) removeOrphans(ctx context.Context, live map[string]bool) error {
	var errs []error
	ctrs, err := k.cfg.Runtime.List()
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range ctrs {
		if live[c.PodUID] {
			continue
		}
		if c.Running {
			if err := k.cfg.Runtime.Stop(ctx, c.ID, 0); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := k.cfg.Runtime.Remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	sbs, err := k.cfg.Sandboxes.List()
	if err != nil {
		errs = append(errs, err)
	}
	for _, sb := range sbs {
		if live[sb.PodUID] {
			continue
		}
		if err := k.cfg.Sandboxes.Remove(ctx, sb.PodUID); err != nil {
			errs = append(errs, err)
		}
		if err := teardownVolumes(k.cfg.PodsDir, sb.PodUID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// update hands the latest pod (nil: deleted from the API) to its worker, starting one if needed.
func (k *Kubelet) update(ctx context.Context, uid types.UID, pod *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[uid]
	if w == nil {
		if pod == nil {
			return
		}
		w = newPodWorker(k, uid)
		k.workers[uid] = w
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			w.run(ctx)
			k.mu.Lock()
			if k.workers[uid] == w {
				delete(k.workers, uid)
			}
			k.mu.Unlock()
		}()
	}
	w.set(pod)
}
