package endpoints

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxEndpointsCapacity is how many addresses an Endpoints object holds before it is truncated
// and annotated endpoints.kubernetes.io/over-capacity: truncated, as upstream.
const MaxEndpointsCapacity = 1000

const truncatedValue = "truncated"

// planEndpoints returns the Endpoints object svc should have given its pods, built on cur
// (the stored one, nil if none), or nil when cur is already right.
func planEndpoints(svc *corev1.Service, pods []*corev1.Pod, cur *corev1.Endpoints) *corev1.Endpoints {
	subsets := repackSubsets(rawSubsets(svc, pods))
	labels := endpointsLabels(svc)
	if cur != nil && apiequality.Semantic.DeepEqual(cur.Subsets, subsets) &&
		apiequality.Semantic.DeepEqual(cur.Labels, labels) && capacityAnnotationRight(cur) {
		return nil
	}
	next := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace}}
	if cur != nil {
		next = cur.DeepCopy()
	}
	next.Subsets, next.Labels = subsets, labels
	if truncateEndpoints(next) {
		next.Annotations = withAnnotation(next.Annotations, corev1.EndpointsOverCapacity, truncatedValue)
	} else {
		delete(next.Annotations, corev1.EndpointsOverCapacity)
	}
	if cur != nil && apiequality.Semantic.DeepEqual(cur, next) {
		return nil
	}
	return next
}

func withAnnotation(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

// endpointsLabels: the service's labels, plus the headless marker for services without a
// ClusterIP.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		out[k] = v
	}
	if serviceIPSet(svc) {
		delete(out, corev1.IsHeadlessService)
	} else {
		out[corev1.IsHeadlessService] = ""
	}
	return out
}

// capacityAnnotationRight: an object under capacity carries no over-capacity annotation (one
// over capacity must be truncated, so it is never right as it is).
func capacityAnnotationRight(ep *corev1.Endpoints) bool {
	n := 0
	for _, s := range ep.Subsets {
		n += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	_, annotated := ep.Annotations[corev1.EndpointsOverCapacity]
	return n <= MaxEndpointsCapacity && !annotated
}

// entry is one pod address offering one port (nil: a headless service without ports).
type entry struct {
	addr  corev1.EndpointAddress
	port  *corev1.EndpointPort
	ready bool
}

// rawSubsets lists every (pod, port) the Endpoints should hold: terminating pods only with
// publishNotReadyAddresses, and then as ready.
func rawSubsets(svc *corev1.Service, pods []*corev1.Pod) []entry {
	var out []entry
	tolerate := svc.Spec.PublishNotReadyAddresses
	for _, pod := range pods {
		if !includePod(pod, tolerate) {
			continue
		}
		addr, ok := endpointAddress(svc, pod)
		if !ok {
			continue
		}
		ready := tolerate || podReady(pod)
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				out = append(out, entry{addr: addr, ready: ready})
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := findPort(pod, sp)
			if err != nil {
				continue
			}
			out = append(out, entry{addr: addr, ready: ready,
				port: &corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
	}
	return out
}

// endpointAddress is the pod's address in the service's (first) family: from ipFamilies,
// else the ClusterIP's family, else (headless, pre-dual-stack) the pod's own.
func endpointAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	ips := podIPs(pod)
	if len(ips) == 0 {
		return corev1.EndpointAddress{}, false
	}
	v6 := ips[0].Is6()
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		v6 = svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case serviceIPSet(svc):
		v6 = isIPv6String(svc.Spec.ClusterIP)
	}
	i := slices.IndexFunc(ips, func(a netip.Addr) bool { return a.Is6() == v6 })
	if i < 0 {
		return corev1.EndpointAddress{}, false
	}
	addr := corev1.EndpointAddress{IP: ips[i].String(), Hostname: hostnameFor(pod, svc),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		addr.NodeName = &node
	}
	return addr, true
}

// repackSubsets groups the entries as upstream's RepackSubsets: addresses offering exactly
// the same ports share a subset; an address ready for one port is ready for all.
func repackSubsets(entries []entry) []corev1.EndpointSubset {
	type state struct {
		addr  corev1.EndpointAddress
		ready bool
	}
	byPort := map[string]map[string]*state{} // port key → address key → state
	ports := map[string]*corev1.EndpointPort{}
	for _, e := range entries {
		pk := endpointPortKey(e.port)
		ports[pk] = e.port
		if byPort[pk] == nil {
			byPort[pk] = map[string]*state{}
		}
		ak := e.addr.IP + "/" + string(targetUID(&e.addr))
		if s := byPort[pk][ak]; s != nil {
			s.ready = s.ready || e.ready
		} else {
			byPort[pk][ak] = &state{addr: e.addr, ready: e.ready}
		}
	}
	type subset struct {
		addrs map[string]*state
		ports []corev1.EndpointPort
	}
	bySet := map[string]*subset{}
	for pk, addrs := range byPort {
		sk := addressSetKey(addrs, func(s *state) bool { return s.ready })
		ss := bySet[sk]
		if ss == nil {
			ss = &subset{addrs: addrs}
			bySet[sk] = ss
		}
		if p := ports[pk]; p != nil {
			ss.ports = append(ss.ports, *p)
		}
	}
	out := []corev1.EndpointSubset{}
	for _, sk := range sortedKeys(bySet) {
		ss := bySet[sk]
		var sub corev1.EndpointSubset
		for _, ak := range sortedKeys(ss.addrs) {
			if st := ss.addrs[ak]; st.ready {
				sub.Addresses = append(sub.Addresses, st.addr)
			} else {
				sub.NotReadyAddresses = append(sub.NotReadyAddresses, st.addr)
			}
		}
		sortAddresses(sub.Addresses)
		sortAddresses(sub.NotReadyAddresses)
		sub.Ports = ss.ports
		slices.SortFunc(sub.Ports, func(a, b corev1.EndpointPort) int {
			return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), strings.Compare(string(a.Protocol), string(b.Protocol)))
		})
		out = append(out, sub)
	}
	slices.SortStableFunc(out, func(a, b corev1.EndpointSubset) int { return compareAddrs([]string{firstIP(a)}, []string{firstIP(b)}) })
	return out
}

func firstIP(s corev1.EndpointSubset) string {
	all := append(slices.Clone(s.Addresses), s.NotReadyAddresses...)
	sortAddresses(all)
	if len(all) == 0 {
		return ""
	}
	return all[0].IP
}

func endpointPortKey(p *corev1.EndpointPort) string {
	if p == nil {
		return "-"
	}
	return strings.Join([]string{p.Name, strconv.Itoa(int(p.Port)), string(p.Protocol), deref(p.AppProtocol)}, "/")
}

func addressSetKey[S any](m map[string]S, ready func(S) bool) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		b.WriteString(k)
		b.WriteString(strconv.FormatBool(ready(m[k])))
		b.WriteByte(',')
	}
	return b.String()
}

func targetUID(a *corev1.EndpointAddress) string {
	if a.TargetRef == nil {
		return ""
	}
	return string(a.TargetRef.UID)
}

func sortAddresses(addrs []corev1.EndpointAddress) {
	slices.SortFunc(addrs, func(a, b corev1.EndpointAddress) int {
		return cmp.Or(compareAddrs([]string{a.IP}, []string{b.IP}), strings.Compare(targetUID(&a), targetUID(&b)))
	})
}

// truncateEndpoints cuts an object over capacity down to MaxEndpointsCapacity addresses, as
// upstream: ready addresses first, each subset keeping its share (rounded up).
func truncateEndpoints(ep *corev1.Endpoints) bool {
	ready, notReady := 0, 0
	for _, s := range ep.Subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= MaxEndpointsCapacity {
		return false
	}
	truncateReady := ready > MaxEndpointsCapacity
	room, total := MaxEndpointsCapacity-ready, notReady
	if truncateReady {
		room, total = MaxEndpointsCapacity, ready
	}
	left := room
	for i := range ep.Subsets {
		s := &ep.Subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		share := min(int(math.Ceil(float64(n)/float64(total)*float64(room))), left)
		if truncateReady {
			s.Addresses = s.Addresses[:min(share, len(s.Addresses))]
			s.NotReadyAddresses = []corev1.EndpointAddress{}
			left -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(share, len(s.NotReadyAddresses))]
			left -= len(s.NotReadyAddresses)
		}
	}
	return true
}
