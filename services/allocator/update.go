package allocator

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PrepareUpdate does what kube-apiserver does to an updated Service before validating it, so that
// a client resubmitting its original manifest (no clusterIP, no nodePorts) keeps what was allocated,
// and a type change drops values that no longer apply and that the client did not touch. Update
// calls it too; the API layer should call it before validation, or `kubectl apply` of an unchanged
// manifest fails with "may not change once set".
func PrepareUpdate(svc, old *corev1.Service) {
	normalizeClusterIPs(svc, old)
	patchAllocatedValues(svc, old)
	dropTypeDependentFields(svc, old)
}

// normalizeClusterIPs keeps clusterIP and clusterIPs in step for clients that set only the
// singular field. old is nil on create.
func normalizeClusterIPs(svc, old *corev1.Service) {
	if old == nil {
		if svc.Spec.ClusterIP != "" && len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
		return
	}
	if len(old.Spec.ClusterIPs) > 0 && len(svc.Spec.ClusterIPs) == 0 && old.Spec.ClusterIP == svc.Spec.ClusterIP {
		svc.Spec.ClusterIPs = old.Spec.ClusterIPs
	}
	if old.Spec.ClusterIP == svc.Spec.ClusterIP || !sameStrings(old.Spec.ClusterIPs, svc.Spec.ClusterIPs) {
		return
	}
	if svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIPs = nil
	} else {
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
}

// patchAllocatedValues copies allocated values the new object left out from the old one: the
// ClusterIP, nodePorts matched by port name (unless another port now uses that number), and the
// healthCheckNodePort.
func patchAllocatedValues(svc, old *corev1.Service) {
	if needsClusterIP(old) && needsClusterIP(svc) {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
		}
		if len(svc.Spec.ClusterIPs) == 0 && len(old.Spec.ClusterIPs) > 0 {
			svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
	}
	if needsNodePort(old) && needsNodePort(svc) {
		patchNodePorts(svc, old)
	}
	if needsHCNodePort(old) && needsHCNodePort(svc) && svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

func patchNodePorts(svc, old *corev1.Service) {
	inNew := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		inNew[p.NodePort] = true
	}
	byName := map[string]int32{}
	for _, p := range old.Spec.Ports {
		byName[p.Name] = p.NodePort
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if oldVal := byName[p.Name]; p.NodePort == 0 && !inNew[oldVal] {
			p.NodePort = oldVal
		}
	}
}

// dropTypeDependentFields wipes a field only when the new type no longer uses it and the client
// left it as it was; the allocations behind it are released by Update.
func dropTypeDependentFields(svc, old *corev1.Service) {
	if needsClusterIP(old) && !needsClusterIP(svc) {
		if sameStrings(old.Spec.ClusterIPs, svc.Spec.ClusterIPs) && old.Spec.ClusterIP == svc.Spec.ClusterIP {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		}
		if sameFamilies(old.Spec.IPFamilies, svc.Spec.IPFamilies) {
			svc.Spec.IPFamilies = nil
		}
		if samePolicy(old.Spec.IPFamilyPolicy, svc.Spec.IPFamilyPolicy) {
			svc.Spec.IPFamilyPolicy = nil
		}
	}
	if needsNodePort(old) && !needsNodePort(svc) && sameNodePorts(old, svc) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if needsHCNodePort(old) && !needsHCNodePort(svc) && old.Spec.HealthCheckNodePort == svc.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	// Fields that only mean something for some types: a client switching type that left them as
	// they were does not mean to keep them, and validation would refuse them.
	external := func(s *corev1.Service) bool {
		return s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
	}
	if external(old) && !external(svc) && old.Spec.ExternalTrafficPolicy == svc.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	lb := func(s *corev1.Service) bool { return s.Spec.Type == corev1.ServiceTypeLoadBalancer }
	if lb(old) && !lb(svc) {
		if samePtr(old.Spec.AllocateLoadBalancerNodePorts, svc.Spec.AllocateLoadBalancerNodePorts) {
			svc.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if samePtr(old.Spec.LoadBalancerClass, svc.Spec.LoadBalancerClass) {
			svc.Spec.LoadBalancerClass = nil
		}
	}
}

func samePtr[T comparable](a, b *T) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func samePolicy(a, b *corev1.IPFamilyPolicy) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func sameNodePorts(a, b *corev1.Service) bool {
	return slices.EqualFunc(a.Spec.Ports, b.Spec.Ports, func(x, y corev1.ServicePort) bool {
		return x.NodePort == y.NodePort
	})
}

// Update allocates and releases for a changed Service: a switch to a type that needs an address or
// nodePorts allocates them, a switch away releases them, changed nodePorts move, and what stays
// is kept. svc is modified like in Create. Releases take effect on Commit. On error nothing stays
// reserved and the returned Txn is nil.
func (a *Allocator) Update(svc, old *corev1.Service) (*Txn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.newTxn()
	if err := t.update(svc, old); err != nil {
		t.rollbackLocked()
		return nil, err
	}
	return t, nil
}

func (t *Txn) update(svc, old *corev1.Service) error {
	PrepareUpdate(svc, old)
	if errs := forbiddenNodePorts(svc); len(errs) > 0 {
		return &InvalidError{Errors: errs}
	}
	if err := t.a.initIPFamilyFields(svc, old); err != nil {
		return err
	}
	if err := t.updateClusterIP(svc, old); err != nil {
		return err
	}
	if err := t.updateNodePorts(svc, old); err != nil {
		return err
	}
	return t.updateHealthCheckNodePort(svc, old)
}

func (t *Txn) updateClusterIP(svc, old *corev1.Service) error {
	switch {
	case !needsClusterIP(old) && needsClusterIP(svc):
		return t.allocClusterIP(svc)
	case needsClusterIP(old) && !needsClusterIP(svc):
		if ownsClusterIP(old) {
			for _, ip := range clusterIPsOf(old) {
				t.freeIPLater(ip)
			}
		}
		return nil
	case needsClusterIP(svc):
		return immutableClusterIP(svc, old)
	}
	return nil
}

// immutableClusterIP repeats upstream validation: the allocator would otherwise lose track of an
// address swapped under it.
func immutableClusterIP(svc, old *corev1.Service) error {
	oldIPs := clusterIPsOf(old)
	if len(oldIPs) == 0 {
		return nil
	}
	if len(svc.Spec.ClusterIPs) == 0 {
		return invalid(field.Invalid(clusterIPsPath.Index(0), svc.Spec.ClusterIPs, "primary clusterIP can not be unset"))
	}
	if svc.Spec.ClusterIPs[0] != oldIPs[0] {
		return invalid(field.Invalid(clusterIPsPath.Index(0), svc.Spec.ClusterIPs, "may not change once set"))
	}
	svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	return nil
}

func clusterIPsOf(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs
	}
	if svc.Spec.ClusterIP != "" {
		return []string{svc.Spec.ClusterIP}
	}
	return nil
}

func (t *Txn) updateNodePorts(svc, old *corev1.Service) error {
	var oldPorts []int
	if needsNodePort(old) {
		oldPorts = servicePortNodePorts(old)
	}
	if needsNodePort(svc) {
		if err := t.assignNodePorts(svc, oldPorts); err != nil {
			return err
		}
	}
	newPorts := servicePortNodePorts(svc)
	for _, p := range oldPorts {
		if !slices.Contains(newPorts, p) {
			t.freePortLater(p)
		}
	}
	return nil
}

// assignNodePorts takes requested nodePorts not already held and allocates missing ones.
func (t *Txn) assignNodePorts(svc *corev1.Service, held []int) error {
	taken := map[int32]bool{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		switch {
		case sp.NodePort == 0 && !shouldAllocateNodePorts(svc):
		case sp.NodePort == 0:
			np, err := t.takeNextPort()
			if err != nil {
				return fmt.Errorf("failed to allocate a nodePort: %w", err)
			}
			sp.NodePort = int32(np)
		case !slices.Contains(held, int(sp.NodePort)) && !taken[sp.NodePort]:
			if err := t.takePort(int(sp.NodePort)); err != nil {
				return invalid(field.Invalid(portsPath.Index(i).Child("nodePort"), sp.NodePort, err.Error()))
			}
			taken[sp.NodePort] = true
		}
	}
	return nil
}

// servicePortNodePorts lists the nodePorts of spec.ports, without healthCheckNodePort.
func servicePortNodePorts(svc *corev1.Service) []int {
	var ports []int
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 && !slices.Contains(ports, int(p.NodePort)) {
			ports = append(ports, int(p.NodePort))
		}
	}
	return ports
}

func (t *Txn) updateHealthCheckNodePort(svc, old *corev1.Service) error {
	oldHC, newHC := old.Spec.HealthCheckNodePort, svc.Spec.HealthCheckNodePort
	switch {
	case !needsHCNodePort(old) && needsHCNodePort(svc):
		return t.allocHealthCheckNodePort(svc)
	case needsHCNodePort(old) && !needsHCNodePort(svc):
		if oldHC != 0 {
			t.freePortLater(int(oldHC))
		}
	case needsHCNodePort(svc) && newHC != oldHC:
		if err := t.allocHealthCheckNodePort(svc); err != nil {
			return err
		}
		if oldHC != 0 {
			t.freePortLater(int(oldHC))
		}
	}
	return nil
}
