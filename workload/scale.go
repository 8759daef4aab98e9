package workload

import (
	"context"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/podnet/podnet/api/resource"
)

// isScalingEvent: spec.replicas differs from what an active ReplicaSet was last sized for, so
// the change is a scale (done in place, proportionally), not a new rollout step.
func (c *Controllers) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, old, err := c.splitReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range activeReplicaSets(append(old, newRS)) {
		if desired, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && desired != replicasOf(d.Spec.Replicas) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale scales without rolling (paused deployments and scaling events), then writes status.
func (c *Controllers) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.splitReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanupDeployment(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, append(old, newRS), newRS, d)
}

// scale sizes the ReplicaSets for spec.replicas: the only active one takes all; a saturated new
// one lets the old ones go; mid-rollout, the pods to add or remove are shared in proportion to
// each ReplicaSet's size (upstream's proportional scaling), leftovers to the largest.
func (c *Controllers) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	replicas := replicasOf(d.Spec.Replicas)
	if rs := activeOrLatest(newRS, old); rs != nil {
		if replicasOf(rs.Spec.Replicas) == replicas {
			return nil
		}
		_, err := c.scaleReplicaSet(ctx, rs, replicas, d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, rs := range activeReplicaSets(old) {
			if _, err := c.scaleReplicaSet(ctx, rs, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	return c.scaleProportionally(ctx, d, activeReplicaSets(append(old, newRS)))
}

func (c *Controllers) scaleProportionally(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet) error {
	replicas := replicasOf(d.Spec.Replicas)
	var allowed int32
	if replicas > 0 {
		allowed = replicas + maxSurge(d)
	}
	toAdd := allowed - sumSpecReplicas(all)
	switch {
	case toAdd > 0:
		bySizeNewer(all)
	case toAdd < 0:
		bySizeOlder(all)
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = replicasOf(rs.Spec.Replicas)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	if len(all) > 0 && toAdd != 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range all {
		if _, err := c.scaleReplicaSet(ctx, rs, sizes[i], d); err != nil {
			return err
		}
	}
	return nil
}

// proportion is rs's share of toAdd (added of which is already handed out).
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicasOf(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := replicaSetFraction(rs, d)
	left := toAdd - added
	if toAdd > 0 {
		return min(fraction, left)
	}
	return max(fraction, left)
}

func replicaSetFraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	cur := replicasOf(rs.Spec.Replicas)
	if replicasOf(d.Spec.Replicas) == 0 {
		return -cur
	}
	total := replicasOf(d.Spec.Replicas) + maxSurge(d)
	annotated, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(cur*total) / float64(annotated)
	return int32(math.Round(size)) - cur
}

// activeOrLatest is the one ReplicaSet with pods (or, with none, the new or the newest old one);
// nil when several have pods.
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	olderFirst(sorted)
	for i, j := 0, len(sorted)-1; i < j; i, j = i+1, j-1 {
		sorted[i], sorted[j] = sorted[j], sorted[i]
	}
	active := activeReplicaSets(append(sorted, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return active[0]
	}
	return nil
}

// isSaturated: the new ReplicaSet runs all of spec.replicas, all available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	replicas := replicasOf(d.Spec.Replicas)
	return ok && replicasOf(rs.Spec.Replicas) == replicas && desired == replicas && rs.Status.AvailableReplicas == replicas
}

// scaleToIfNeeded scales rs to n (a no-op when it has that size already); scaled says whether
// its size changed.
func (c *Controllers) scaleToIfNeeded(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment) (bool, error) {
	if replicasOf(rs.Spec.Replicas) == n {
		return false, nil
	}
	return c.scaleReplicaSet(ctx, rs, n, d)
}

// scaleReplicaSet sets rs's size and the replica annotations the deployment's size implies.
func (c *Controllers) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment) (bool, error) {
	from := replicasOf(rs.Spec.Replicas)
	desired, maxReplicas := replicasOf(d.Spec.Replicas), replicasOf(d.Spec.Replicas)+maxSurge(d)
	sizeChanged := from != n
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false, nil
	}
	err := c.updateReplicaSet(ctx, rs, func(cur *appsv1.ReplicaSet) {
		cur.Spec.Replicas = &n
		setReplicasAnnotations(cur, desired, maxReplicas)
	})
	if err != nil {
		return false, err
	}
	if sizeChanged {
		op := "up"
		if n < from {
			op = "down"
		}
		c.events.event(deploymentComponent, resource.Deployments, d, corev1.EventTypeNormal, "ScalingReplicaSet",
			"Scaled %s replica set %s from %d to %d", op, rs.Name, from, n)
	}
	return sizeChanged, nil
}
