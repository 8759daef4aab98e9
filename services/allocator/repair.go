package allocator

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Repair throws away the in-memory state and rebuilds it from the stored Services: every valid
// ClusterIP and nodePort they hold is marked used. It returns one error per problem for the caller
// to log: an address or port outside the configured ranges (after a configuration change), or one
// held by two Services (the earlier in svcs keeps it). Call it at start, before serving requests:
// reservations of Txns still open are lost.
func (a *Allocator) Repair(svcs []*corev1.Service) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ipPool, a.portPool = a.emptyPools()
	var problems []error
	for _, svc := range svcs {
		problems = append(problems, a.repairClusterIPs(svc)...)
		problems = append(problems, a.repairNodePorts(svc)...)
	}
	return problems
}

func (a *Allocator) repairClusterIPs(svc *corev1.Service) []error {
	if !ownsClusterIP(svc) {
		return nil
	}
	var problems []error
	for _, ip := range clusterIPsOf(svc) {
		off, ok := a.ipOffset(ip)
		switch {
		case !ok:
			problems = append(problems, fmt.Errorf("the ClusterIP %s for Service %s/%s is not within the service CIDR %s; please recreate", ip, svc.Namespace, svc.Name, a.ips.prefix))
		case !a.ipPool.allocate(off):
			problems = append(problems, fmt.Errorf("the ClusterIP %s for Service %s/%s was assigned to multiple services; please recreate", ip, svc.Namespace, svc.Name))
		}
	}
	return problems
}

func (a *Allocator) repairNodePorts(svc *corev1.Service) []error {
	var problems []error
	for _, port := range nodePortsOf(svc) {
		switch {
		case !a.ports.Contains(port):
			problems = append(problems, fmt.Errorf("the node port %d for Service %s/%s is not within the port range %s; please recreate", port, svc.Namespace, svc.Name, a.ports))
		case !a.portPool.allocate(port - a.ports.Base):
			problems = append(problems, fmt.Errorf("the node port %d for Service %s/%s was assigned to multiple services; please recreate", port, svc.Namespace, svc.Name))
		}
	}
	return problems
}
