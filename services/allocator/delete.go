package allocator

import corev1 "k8s.io/api/core/v1"

// Delete returns a Txn that, on Commit, releases the ClusterIP and every nodePort svc held. Call it
// after the store deleted svc; Rollback keeps them (nothing is reserved).
func (a *Allocator) Delete(svc *corev1.Service) *Txn {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.newTxn()
	if ownsClusterIP(svc) {
		for _, ip := range clusterIPsOf(svc) {
			t.freeIPLater(ip)
		}
	}
	for _, p := range nodePortsOf(svc) {
		t.freePortLater(p)
	}
	return t
}
