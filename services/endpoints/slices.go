package endpoints

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ControllerName is the value of endpointslice.kubernetes.io/managed-by on the slices this
// controller owns, as kube-controller-manager's; slices with another value are left alone.
const ControllerName = "endpointslice-controller.k8s.io"

// DefaultMaxEndpointsPerSlice is kube-controller-manager's --max-endpoints-per-slice default.
const DefaultMaxEndpointsPerSlice = 100

// slicePlan is what a sync writes: new slices (named by generateName), slices rewritten in
// place (they carry the resourceVersion they were read at) and slices to delete.
type slicePlan struct {
	Create, Update, Delete []*discoveryv1.EndpointSlice
}

func (p *slicePlan) add(q slicePlan) {
	p.Create = append(p.Create, q.Create...)
	p.Update = append(p.Update, q.Update...)
	p.Delete = append(p.Delete, q.Delete...)
}

// planSlices computes the writes that make the managed slices of svc (existing: every slice
// labelled with its name and managed by this controller) match its pods. A nil svc, or one
// that no longer selects pods, loses all of them.
func planSlices(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, maxPerSlice int) slicePlan {
	existing = sortedByName(existing)
	if !managed(svc) {
		return slicePlan{Delete: existing}
	}
	types := addressTypes(svc)
	var plan slicePlan
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if !slices.Contains(types, s.AddressType) {
			plan.Delete = append(plan.Delete, s)
			continue
		}
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	for _, at := range types {
		plan.add(planAddressType(svc, pods, at, byType[at], maxPerSlice))
	}
	plan.reuseDeleted(svc)
	for _, s := range append(plan.Create, plan.Update...) {
		sortEndpoints(s.Endpoints)
	}
	return plan
}

// addressTypes are the address families the service's slices carry: its ipFamilies; for a
// service from before dual-stack, its ClusterIP's family; a headless one without families
// gets both, as upstream (so that traffic keeps flowing until the families are defaulted).
func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		at := discoveryv1.AddressTypeIPv4
		if f == corev1.IPv6Protocol {
			at = discoveryv1.AddressTypeIPv6
		} else if f != corev1.IPv4Protocol {
			continue
		}
		if !slices.Contains(out, at) {
			out = append(out, at)
		}
	}
	if len(out) > 0 {
		return out
	}
	if serviceIPSet(svc) {
		if isIPv6String(svc.Spec.ClusterIP) {
			return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6}
		}
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
	}
	return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}
}

// group is the endpoints that share one resolved port set.
type group struct {
	ports     []discoveryv1.EndpointPort
	endpoints map[string]discoveryv1.Endpoint
}

// desiredGroups turns the service's pods into endpoints of one family, grouped by the ports
// they resolve to (a named targetPort can differ from pod to pod).
func desiredGroups(svc *corev1.Service, pods []*corev1.Pod, at discoveryv1.AddressType) map[string]*group {
	out := map[string]*group{}
	for _, pod := range pods {
		if !includePod(pod, true) {
			continue
		}
		ports := endpointPorts(svc, pod)
		k := portsKey(ports)
		g := out[k]
		if g == nil {
			g = &group{ports: ports, endpoints: map[string]discoveryv1.Endpoint{}}
			out[k] = g
		}
		if ep := podEndpoint(pod, svc, at); len(ep.Addresses) > 0 {
			g.endpoints[endpointKey(&ep)] = ep
		}
	}
	return out
}

// podEndpoint: ready only while serving and not terminating, unless the service publishes
// not-ready addresses; serving follows the Ready condition even while terminating.
func podEndpoint(pod *corev1.Pod, svc *corev1.Service, at discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := podReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	for _, ip := range podIPs(pod) {
		if ip.Is6() == (at == discoveryv1.AddressTypeIPv6) {
			ep.Addresses = append(ep.Addresses, ip.String())
		}
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		ep.NodeName = &node
	}
	if h := hostnameFor(pod, svc); h != "" {
		ep.Hostname = &h
	}
	return ep
}

// endpointPorts resolves every service port on pod, skipping those the pod lacks.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		port, err := findPort(pod, sp)
		if err != nil {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		out = append(out, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port, AppProtocol: sp.AppProtocol})
	}
	return out
}

// portsKey identifies a port set whatever its order.
func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		parts = append(parts, strings.Join([]string{deref(p.Name), string(deref(p.Protocol)),
			strconv.Itoa(int(deref(p.Port))), deref(p.AppProtocol)}, "/"))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// endpointKey identifies an endpoint across syncs, as upstream's endpoint hash: its
// addresses, hostname and pod; the rest (conditions, node) may change in place.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addrs := slices.Clone(ep.Addresses)
	slices.Sort(addrs)
	var ref string
	if ep.TargetRef != nil {
		ref = ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	return strings.Join(addrs, ",") + "|" + deref(ep.Hostname) + "|" + ref
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// planAddressType reconciles the slices of one address family.
func planAddressType(svc *corev1.Service, pods []*corev1.Pod, at discoveryv1.AddressType, existing []*discoveryv1.EndpointSlice, maxPerSlice int) slicePlan {
	var plan slicePlan
	desired := desiredGroups(svc, pods, at)
	byKey := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if !ownedBy(s, svc) {
			// Left by an earlier service of the same name.
			plan.Delete = append(plan.Delete, s)
			continue
		}
		k := portsKey(s.Ports)
		byKey[k] = append(byKey[k], s)
	}
	for _, k := range sortedKeys(desired) {
		plan.add(planGroup(svc, at, desired[k], byKey[k], maxPerSlice))
	}
	for _, k := range sortedKeys(byKey) {
		if desired[k] == nil {
			plan.Delete = append(plan.Delete, byKey[k]...)
		}
	}
	plan.placeholder(svc, at, len(existing))
	return plan
}

// placeholder keeps one empty slice for a service that would otherwise have none, as
// upstream does, so consumers can tell "no endpoints" from "not synced yet".
func (p *slicePlan) placeholder(svc *corev1.Service, at discoveryv1.AddressType, existing int) {
	if existing != len(p.Delete) || len(p.Create) > 0 {
		return
	}
	ph := newSlice(svc, at, []discoveryv1.EndpointPort{})
	if len(p.Delete) == 1 && samePlaceholder(p.Delete[0], ph) {
		p.Delete = nil
		return
	}
	p.Create = append(p.Create, ph)
}

func samePlaceholder(s, ph *discoveryv1.EndpointSlice) bool {
	return s.Namespace == ph.Namespace && s.AddressType == ph.AddressType && len(s.Endpoints) == 0 &&
		len(s.Ports) == 0 && apiequality.Semantic.DeepEqual(s.Labels, ph.Labels) &&
		apiequality.Semantic.DeepEqual(s.OwnerReferences, ph.OwnerReferences)
}

// planGroup packs the endpoints of one port set into the existing slices of that port set:
// endpoints stay where they are, changed slices are filled up first, then the unchanged slice
// that the rest fits best, and only then new slices.
func planGroup(svc *corev1.Service, at discoveryv1.AddressType, g *group, existing []*discoveryv1.EndpointSlice, maxPerSlice int) slicePlan {
	var plan slicePlan
	remaining := g.endpoints
	want := sliceLabels(svc)
	var changed, unchanged []*discoveryv1.EndpointSlice
	for _, s := range existing {
		next, dirty := keepDesired(s, remaining)
		if !apiequality.Semantic.DeepEqual(s.Labels, want) {
			next.Labels, dirty = want, true
		}
		switch {
		case !dirty:
			unchanged = append(unchanged, s)
		case len(next.Endpoints) == 0:
			plan.Delete = append(plan.Delete, s)
		default:
			changed = append(changed, next)
		}
	}
	left := sortedEndpoints(remaining)
	slices.SortStableFunc(changed, func(a, b *discoveryv1.EndpointSlice) int { return len(b.Endpoints) - len(a.Endpoints) })
	for _, s := range changed {
		left = fill(s, left, maxPerSlice)
	}
	for len(left) > 0 {
		var s *discoveryv1.EndpointSlice
		if len(left) < maxPerSlice {
			if i := sliceToFill(unchanged, len(left), maxPerSlice); i >= 0 {
				s = unchanged[i].DeepCopy()
				unchanged = slices.Delete(unchanged, i, i+1)
				changed = append(changed, s)
			}
		}
		if s == nil {
			s = newSlice(svc, at, g.ports)
			plan.Create = append(plan.Create, s)
		}
		left = fill(s, left, maxPerSlice)
	}
	plan.Update = append(plan.Update, changed...)
	return plan
}

// keepDesired copies s with only its endpoints that are still wanted, in their wanted form,
// taking them out of remaining; dirty when anything changed.
func keepDesired(s *discoveryv1.EndpointSlice, remaining map[string]discoveryv1.Endpoint) (*discoveryv1.EndpointSlice, bool) {
	next := s.DeepCopy()
	next.Endpoints = []discoveryv1.Endpoint{}
	dirty := false
	for i := range s.Endpoints {
		k := endpointKey(&s.Endpoints[i])
		ep, ok := remaining[k]
		if !ok {
			dirty = true
			continue
		}
		delete(remaining, k)
		if !apiequality.Semantic.DeepEqual(&s.Endpoints[i], &ep) {
			dirty = true
		}
		next.Endpoints = append(next.Endpoints, ep)
	}
	return next, dirty
}

func fill(s *discoveryv1.EndpointSlice, left []discoveryv1.Endpoint, maxPerSlice int) []discoveryv1.Endpoint {
	n := min(max(maxPerSlice-len(s.Endpoints), 0), len(left))
	s.Endpoints = append(s.Endpoints, left[:n]...)
	return left[n:]
}

// sliceToFill is the unchanged slice closest to full once n endpoints are added, -1 if none
// has room.
func sliceToFill(candidates []*discoveryv1.EndpointSlice, n, maxPerSlice int) int {
	best, bestGap := -1, maxPerSlice
	for i, s := range candidates {
		if gap := maxPerSlice - n - len(s.Endpoints); gap >= 0 && gap < bestGap {
			best, bestGap = i, gap
		}
	}
	return best
}

// reuseDeleted turns a delete plus a create of the same family into one update, so a port
// change rewrites slices in place instead of replacing them.
func (p *slicePlan) reuseDeleted(svc *corev1.Service) {
	for i := 0; i < len(p.Delete) && len(p.Create) > 0; {
		old, s := p.Delete[i], p.Create[len(p.Create)-1]
		if old.AddressType != s.AddressType || !ownedBy(old, svc) {
			i++
			continue
		}
		s.Name, s.ResourceVersion, s.UID = old.Name, old.ResourceVersion, old.UID
		s.GenerateName = old.GenerateName
		p.Create = p.Create[:len(p.Create)-1]
		p.Update = append(p.Update, s)
		p.Delete = slices.Delete(p.Delete, i, i+1)
	}
}

// sliceLabels: the service's labels (but the reserved ones) plus the service name, the
// manager and the headless marker.
func sliceLabels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		if k != discoveryv1.LabelServiceName && k != discoveryv1.LabelManagedBy && k != corev1.IsHeadlessService {
			out[k] = v
		}
	}
	if !serviceIPSet(svc) {
		out[corev1.IsHeadlessService] = ""
	}
	out[discoveryv1.LabelServiceName] = svc.Name
	out[discoveryv1.LabelManagedBy] = ControllerName
	return out
}

func newSlice(svc *corev1.Service, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    slicePrefix(svc.Name),
			Namespace:       svc.Namespace,
			Labels:          sliceLabels(svc),
			OwnerReferences: []metav1.OwnerReference{*ownerRef(svc)},
		},
		AddressType: at,
		Ports:       slices.Clone(ports),
		Endpoints:   []discoveryv1.Endpoint{},
	}
}

// slicePrefix is "<svc>-", or the bare name when the dash would make it too long.
func slicePrefix(name string) string {
	if p := name + "-"; len(apivalidation.NameIsDNSSubdomain(p, true)) == 0 {
		return p
	}
	return name
}

func ownerRef(svc *corev1.Service) *metav1.OwnerReference {
	return metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
}

func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

// sortedEndpoints orders endpoints by address so that slices read the same on every sync.
func sortedEndpoints(m map[string]discoveryv1.Endpoint) []discoveryv1.Endpoint {
	out := make([]discoveryv1.Endpoint, 0, len(m))
	for _, ep := range m {
		out = append(out, ep)
	}
	sortEndpoints(out)
	return out
}

func sortEndpoints(eps []discoveryv1.Endpoint) {
	slices.SortFunc(eps, func(a, b discoveryv1.Endpoint) int {
		return cmp.Or(compareAddrs(a.Addresses, b.Addresses), strings.Compare(endpointKey(&a), endpointKey(&b)))
	})
}

func compareAddrs(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return len(a) - len(b)
	}
	x, errX := netip.ParseAddr(a[0])
	y, errY := netip.ParseAddr(b[0])
	if errX != nil || errY != nil {
		return strings.Compare(a[0], b[0])
	}
	return x.Compare(y)
}

func sortedByName(in []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
