package allocator

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var portsPath = field.NewPath("spec", "ports")

// Create allocates for a new Service and writes the result into svc: spec.clusterIP and
// spec.clusterIPs, spec.ipFamilies and spec.ipFamilyPolicy, the nodePorts of NodePort and
// LoadBalancer Services (unless allocateLoadBalancerNodePorts is false), and healthCheckNodePort
// for LoadBalancer Services with externalTrafficPolicy Local. Requested values are honoured.
// Headless and ExternalName Services get no address. On error nothing stays reserved and the
// returned Txn is nil; the error is *InvalidError or internal (see the package comment).
func (a *Allocator) Create(svc *corev1.Service) (*Txn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.newTxn()
	if err := t.create(svc); err != nil {
		t.rollbackLocked()
		return nil, err
	}
	return t, nil
}

func (t *Txn) create(svc *corev1.Service) error {
	normalizeClusterIPs(svc, nil)
	if errs := forbiddenNodePorts(svc); len(errs) > 0 {
		return &InvalidError{Errors: errs}
	}
	if err := t.a.initIPFamilyFields(svc, nil); err != nil {
		return err
	}
	if err := t.allocClusterIP(svc); err != nil {
		return err
	}
	if needsNodePort(svc) {
		if err := t.initNodePorts(svc); err != nil {
			return err
		}
	}
	if needsHCNodePort(svc) {
		return t.allocHealthCheckNodePort(svc)
	}
	return nil
}

// forbiddenNodePorts repeats upstream validation: a ClusterIP Service holding a nodePort would keep
// a port nobody allocated to it.
func forbiddenNodePorts(svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		return nil
	}
	var errs field.ErrorList
	for i, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			errs = append(errs, field.Forbidden(portsPath.Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
		}
	}
	return errs
}

// allocClusterIP takes the requested clusterIPs[0] or picks one. Only one family is configured,
// so there is at most one address to allocate.
func (t *Txn) allocClusterIP(svc *corev1.Service) error {
	if !ownsClusterIP(svc) {
		if isHeadless(svc) {
			svc.Spec.ClusterIP = corev1.ClusterIPNone
			svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		}
		return nil
	}
	if len(svc.Spec.ClusterIPs) == 0 || svc.Spec.ClusterIPs[0] == "" {
		ip, err := t.takeNextIP()
		if err != nil {
			return fmt.Errorf("failed to allocate a serviceIP: %w", err)
		}
		svc.Spec.ClusterIP = ip
		svc.Spec.ClusterIPs = []string{ip}
		return nil
	}
	ip := svc.Spec.ClusterIPs[0]
	if err := t.takeIP(ip); err != nil {
		return invalid(field.Invalid(clusterIPsPath, svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %s: %v", ip, err)))
	}
	svc.Spec.ClusterIP = ip
	return nil
}

// initNodePorts gives each port its nodePort. Ports sharing a port number (53/TCP and 53/UDP) share
// one nodePort, the first requested for that number if any.
func (t *Txn) initNodePorts(svc *corev1.Service) error {
	byPort := map[int32]int32{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.NodePort == 0 && !shouldAllocateNodePorts(svc) {
			continue
		}
		path := portsPath.Index(i).Child("nodePort")
		shared, seen := byPort[sp.Port]
		switch {
		case !seen:
			np, err := t.firstNodePortFor(svc, sp.Port, path)
			if err != nil {
				return err
			}
			sp.NodePort, byPort[sp.Port] = np, np
		case sp.NodePort == 0:
			sp.NodePort = shared
		case sp.NodePort != shared:
			if err := t.takePort(int(sp.NodePort)); err != nil {
				return invalid(field.Invalid(path, sp.NodePort, err.Error()))
			}
		}
	}
	return nil
}

func (t *Txn) firstNodePortFor(svc *corev1.Service, port int32, path *field.Path) (int32, error) {
	if np := requestedNodePort(svc, port); np != 0 {
		if err := t.takePort(int(np)); err != nil {
			return 0, invalid(field.Invalid(path, np, err.Error()))
		}
		return np, nil
	}
	np, err := t.takeNextPort()
	if err != nil {
		return 0, fmt.Errorf("failed to allocate a nodePort: %w", err)
	}
	return int32(np), nil
}

// requestedNodePort is the first nodePort asked for by any port with this port number.
func requestedNodePort(svc *corev1.Service, port int32) int32 {
	for _, sp := range svc.Spec.Ports {
		if sp.Port == port && sp.NodePort != 0 {
			return sp.NodePort
		}
	}
	return 0
}

// allocHealthCheckNodePort fails as an internal error, as upstream does, even for a requested port.
func (t *Txn) allocHealthCheckNodePort(svc *corev1.Service) error {
	if np := svc.Spec.HealthCheckNodePort; np != 0 {
		if err := t.takePort(int(np)); err != nil {
			return fmt.Errorf("failed to allocate requested HealthCheck NodePort %d: %w", np, err)
		}
		return nil
	}
	np, err := t.takeNextPort()
	if err != nil {
		return fmt.Errorf("failed to allocate a HealthCheck NodePort %d: %w", np, err)
	}
	svc.Spec.HealthCheckNodePort = int32(np)
	return nil
}
