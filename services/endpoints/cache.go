package endpoints

import (
	"strconv"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// sliceCache holds the slices this controller manages, by service, fed by the watch and by
// the controller's own writes (so that a sync right after a write sees it even before its
// event arrives). It spares each sync a list of every slice in the namespace, which costs
// O(services) at 10,000 services. Objects in it are shared: copy before changing one.
type sliceCache struct {
	mu        sync.Mutex
	byService map[string]map[string]*discoveryv1.EndpointSlice // "ns/svc" → slice name → slice
	owner     map[string]string                                // "ns/slice" → "ns/svc"
	// gone: slices this controller deleted whose Deleted event has not come yet; an older
	// event about them must not bring them back.
	gone map[string]bool
}

func newSliceCache() *sliceCache {
	return &sliceCache{byService: map[string]map[string]*discoveryv1.EndpointSlice{}, owner: map[string]string{}, gone: map[string]bool{}}
}

// ours: the slice is managed by this controller and names its service.
func ours(s *discoveryv1.EndpointSlice) bool {
	return s.Labels[discoveryv1.LabelManagedBy] == ControllerName && s.Labels[discoveryv1.LabelServiceName] != ""
}

func rvOf(s *discoveryv1.EndpointSlice) uint64 {
	n, _ := strconv.ParseUint(s.ResourceVersion, 10, 64)
	return n
}

// reset replaces the content with a fresh list (after a relist).
func (c *sliceCache) reset(list []*discoveryv1.EndpointSlice) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byService, c.owner, c.gone = map[string]map[string]*discoveryv1.EndpointSlice{}, map[string]string{}, map[string]bool{}
	for _, s := range list {
		c.putLocked(s)
	}
}

// observe records a slice as it now is, unless what is held is newer; it returns the keys of
// the services concerned (a slice can move between services by a label edit).
func (c *sliceCache) observe(s *discoveryv1.EndpointSlice) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := s.Namespace + "/" + s.Name
	if c.gone[id] {
		return nil
	}
	prev := c.owner[id]
	if prev != "" {
		if held := c.byService[prev][s.Name]; held != nil && rvOf(held) >= rvOf(s) {
			return nil
		}
		c.removeLocked(s.Namespace, s.Name)
	}
	keys := []string{}
	if prev != "" {
		keys = append(keys, prev)
	}
	if ours(s) {
		c.putLocked(s)
		if k := c.owner[id]; k != prev {
			keys = append(keys, k)
		}
	}
	return keys
}

// deleted drops a slice; byUs marks it gone until its Deleted event comes.
func (c *sliceCache) deleted(ns, name string, byUs bool) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := ns + "/" + name
	if byUs {
		c.gone[id] = true
	} else {
		delete(c.gone, id)
	}
	return c.removeLocked(ns, name)
}

func (c *sliceCache) putLocked(s *discoveryv1.EndpointSlice) {
	if !ours(s) {
		return
	}
	key := s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
	if c.byService[key] == nil {
		c.byService[key] = map[string]*discoveryv1.EndpointSlice{}
	}
	c.byService[key][s.Name] = s
	c.owner[s.Namespace+"/"+s.Name] = key
}

func (c *sliceCache) removeLocked(ns, name string) string {
	id := ns + "/" + name
	key := c.owner[id]
	delete(c.owner, id)
	if m := c.byService[key]; m != nil {
		delete(m, name)
		if len(m) == 0 {
			delete(c.byService, key)
		}
	}
	return key
}

// get returns the slices of service key.
func (c *sliceCache) get(key string) []*discoveryv1.EndpointSlice {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*discoveryv1.EndpointSlice, 0, len(c.byService[key]))
	for _, s := range c.byService[key] {
		out = append(out, s)
	}
	return out
}

// services are the keys of every service that has slices.
func (c *sliceCache) services() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.byService)
}

// selectorIndex maps each namespace's services to their selectors, so that a pod event finds
// the services it concerns without decoding every Service.
type selectorIndex struct {
	mu sync.Mutex
	m  map[string]map[string]labels.Selector // ns → service → selector
}

func newSelectorIndex() *selectorIndex {
	return &selectorIndex{m: map[string]map[string]labels.Selector{}}
}

func (x *selectorIndex) set(ns, name string, sel map[string]string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if sel == nil {
		x.removeLocked(ns, name)
		return
	}
	if x.m[ns] == nil {
		x.m[ns] = map[string]labels.Selector{}
	}
	x.m[ns][name] = labels.SelectorFromSet(sel)
}

// has: service ns/name exists and has a selector.
func (x *selectorIndex) has(ns, name string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.m[ns][name]
	return ok
}

func (x *selectorIndex) remove(ns, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(ns, name)
}

func (x *selectorIndex) removeLocked(ns, name string) {
	delete(x.m[ns], name)
	if len(x.m[ns]) == 0 {
		delete(x.m, ns)
	}
}

func (x *selectorIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.m = map[string]map[string]labels.Selector{}
}

// matching names the services of ns selecting any of the label sets.
func (x *selectorIndex) matching(ns string, sets ...labels.Set) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for name, sel := range x.m[ns] {
		for _, s := range sets {
			if sel.Matches(s) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}
