package workload

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling takes one step of a rolling update: grow the new ReplicaSet within maxSurge,
// else shrink the old ones within maxUnavailable; once complete, prune the history.
func (c *Controllers) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.splitReplicaSets(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	scaledUp, err := c.reconcileNewReplicaSet(ctx, all, newRS, d)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, all, activeReplicaSets(old), newRS, d)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanupDeployment(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

func (c *Controllers) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	replicas := replicasOf(d.Spec.Replicas)
	cur := replicasOf(newRS.Spec.Replicas)
	switch {
	case cur == replicas:
		return false, nil
	case cur > replicas:
		return c.scaleToIfNeeded(ctx, newRS, replicas, d)
	}
	return c.scaleToIfNeeded(ctx, newRS, newRSReplicas(d, all, newRS), d)
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as availability allows: first
// their unavailable pods (which serve nothing), then available ones down to the minimum.
func (c *Controllers) reconcileOldReplicaSets(ctx context.Context, all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if sumSpecReplicas(old) == 0 {
		return false, nil
	}
	minAvailable := replicasOf(d.Spec.Replicas) - maxUnavailable(d)
	newUnavailable := replicasOf(newRS.Spec.Replicas) - newRS.Status.AvailableReplicas
	maxScaledDown := sumSpecReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	cleaned, err := c.cleanupUnhealthyReplicas(ctx, old, d, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaled, err := c.scaleDownOldForRollingUpdate(ctx, append(append([]*appsv1.ReplicaSet(nil), old...), newRS), old, d)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

func (c *Controllers) cleanupUnhealthyReplicas(ctx context.Context, old []*appsv1.ReplicaSet, d *appsv1.Deployment, maxCleanup int32) (int32, error) {
	olderFirst(old)
	var total int32
	for _, rs := range old {
		if total >= maxCleanup {
			break
		}
		cur := replicasOf(rs.Spec.Replicas)
		if cur == 0 || cur == rs.Status.AvailableReplicas {
			continue
		}
		n := min(maxCleanup-total, cur-rs.Status.AvailableReplicas)
		if _, err := c.scaleToIfNeeded(ctx, rs, cur-n, d); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (c *Controllers) scaleDownOldForRollingUpdate(ctx context.Context, all, old []*appsv1.ReplicaSet, d *appsv1.Deployment) (int32, error) {
	minAvailable := replicasOf(d.Spec.Replicas) - maxUnavailable(d)
	available := sumStatus(all, statusAvailable)
	if available <= minAvailable {
		return 0, nil
	}
	olderFirst(old)
	want := available - minAvailable
	var total int32
	for _, rs := range old {
		if total >= want {
			break
		}
		cur := replicasOf(rs.Spec.Replicas)
		if cur == 0 {
			continue
		}
		n := min(cur, want-total)
		if _, err := c.scaleToIfNeeded(ctx, rs, cur-n, d); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
