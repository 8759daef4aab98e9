package workload

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/api/resource"
)

// Condition reasons of Deployments, word for word as kube-controller-manager writes them
// (kubectl rollout status matches ProgressDeadlineExceeded).
const (
	reasonNewRSCreated          = "NewReplicaSetCreated"
	reasonFoundNewRS            = "FoundNewReplicaSet"
	reasonRSUpdated             = "ReplicaSetUpdated"
	reasonNewRSAvailable        = "NewReplicaSetAvailable"
	reasonTimedOut              = "ProgressDeadlineExceeded"
	reasonPaused                = "DeploymentPaused"
	reasonResumed               = "DeploymentResumed"
	reasonFailedRSCreate        = "ReplicaSetCreateError"
	reasonMinimumAvailable      = "MinimumReplicasAvailable"
	reasonMinimumUnavailable    = "MinimumReplicasUnavailable"
	messageMinimumAvailable     = "Deployment has minimum availability."
	messageMinimumNotAvailable  = "Deployment does not have minimum availability."
	messageSelectingAllRequired = "This deployment is selecting all pods. A non-empty selector is required."
)

func (c *Controllers) condition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string) appsv1.DeploymentCondition {
	now := metav1.NewTime(c.now())
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now}
}

func deploymentCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setDeploymentCondition replaces the condition of cond's type unless status and reason are
// unchanged; the transition time moves only when the status does.
func setDeploymentCondition(st *appsv1.DeploymentStatus, cond appsv1.DeploymentCondition) {
	cur := deploymentCondition(st, cond.Type)
	if cur != nil && cur.Status == cond.Status && cur.Reason == cond.Reason {
		return
	}
	if cur != nil && cur.Status == cond.Status {
		cond.LastTransitionTime = cur.LastTransitionTime
	}
	removeDeploymentCondition(st, cond.Type)
	st.Conditions = append(st.Conditions, cond)
}

func removeDeploymentCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	st.Conditions = slices.DeleteFunc(st.Conditions, func(c appsv1.DeploymentCondition) bool { return c.Type == t })
}

// deploymentComplete: every replica is updated and available, and the spec is observed.
func deploymentComplete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	r := replicasOf(d.Spec.Replicas)
	return st.UpdatedReplicas == r && st.Replicas == r && st.AvailableReplicas == r && st.ObservedGeneration >= d.Generation
}

// deploymentProgressing: more pods updated, ready or available, or fewer old ones, than the
// stored status says.
func deploymentProgressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas || st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas || st.AvailableReplicas > old.AvailableReplicas
}

func (c *Controllers) deploymentTimedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	cond := deploymentCondition(st, appsv1.DeploymentProgressing)
	switch {
	case cond == nil || cond.Reason == reasonNewRSAvailable:
		return false
	case cond.Reason == reasonTimedOut:
		return true
	}
	deadline := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(c.now())
}

// calculateStatus sums the ReplicaSets' counts and sets Available by maxUnavailable.
func (c *Controllers) calculateStatus(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) appsv1.DeploymentStatus {
	available := sumStatus(all, statusAvailable)
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(all, statusReplicas),
		UpdatedReplicas:     sumStatus([]*appsv1.ReplicaSet{newRS}, statusReplicas),
		ReadyReplicas:       sumStatus(all, statusReady),
		AvailableReplicas:   available,
		UnavailableReplicas: max(sumSpecReplicas(all)-available, 0),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          slices.Clone(d.Status.Conditions),
	}
	if available >= replicasOf(d.Spec.Replicas)-maxUnavailable(d) {
		setDeploymentCondition(&st, c.condition(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumAvailable, messageMinimumAvailable))
	} else {
		setDeploymentCondition(&st, c.condition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumUnavailable, messageMinimumNotAvailable))
	}
	return st
}

// syncDeploymentStatus writes the counts (no Progressing changes: scaling is not progress).
func (c *Controllers) syncDeploymentStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	st := c.calculateStatus(all, newRS, d)
	if equality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	d.Status = st
	return c.writeDeploymentStatus(ctx, d)
}

// syncStatusOnly is all a deployment being deleted gets.
func (c *Controllers) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.splitReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncDeploymentStatus(ctx, append(old, newRS), newRS, d)
}

// syncRolloutStatus writes status with the Progressing condition of this step: complete,
// progressing, or past its deadline; and a ReplicaSet's ReplicaFailure as the deployment's.
func (c *Controllers) syncRolloutStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	st := c.calculateStatus(all, newRS, d)
	if !hasProgressDeadline(d) {
		removeDeploymentCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := deploymentCondition(&d.Status, appsv1.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !complete {
		c.setProgressing(d, &st, newRS, cur)
	}
	if failure := replicaFailure(all, newRS); failure != nil {
		setDeploymentCondition(&st, c.condition(appsv1.DeploymentReplicaFailure, failure.Status, failure.Reason, failure.Message))
	} else {
		removeDeploymentCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	if !equality.Semantic.DeepEqual(d.Status, st) {
		d.Status = st
		if err := c.writeDeploymentStatus(ctx, d); err != nil {
			return err
		}
	}
	c.requeueStuck(d)
	return nil
}

func (c *Controllers) setProgressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus, newRS *appsv1.ReplicaSet, cur *appsv1.DeploymentCondition) {
	subject := fmt.Sprintf("Deployment %q", d.Name)
	if newRS != nil {
		subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
	}
	switch {
	case deploymentComplete(d, st):
		setDeploymentCondition(st, c.condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSAvailable,
			subject+" has successfully progressed."))
	case deploymentProgressing(d, st):
		// Progress refreshes lastUpdateTime (the deadline counts from it) and may change the
		// reason, which setDeploymentCondition would not do.
		cond := c.condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonRSUpdated, subject+" is progressing.")
		if cur != nil {
			if cur.Status == corev1.ConditionTrue {
				cond.LastTransitionTime = cur.LastTransitionTime
			}
			removeDeploymentCondition(st, appsv1.DeploymentProgressing)
		}
		setDeploymentCondition(st, cond)
	case c.deploymentTimedOut(d, st):
		setDeploymentCondition(st, c.condition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonTimedOut,
			subject+" has timed out progressing."))
	}
}

// requeueStuck wakes the deployment when its progress deadline passes: nothing else would.
func (c *Controllers) requeueStuck(d *appsv1.Deployment) {
	cond := deploymentCondition(&d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cond == nil || cond.Reason == reasonTimedOut || deploymentComplete(d, &d.Status) {
		return
	}
	after := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(c.now())
	c.deployments.AddAfter(key(d.Namespace, d.Name), max(after+time.Second, time.Second))
}

// replicaFailure is the first ReplicaFailure condition among the ReplicaSets, the new one first.
func replicaFailure(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.ReplicaSetCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		if cond := replicaSetCondition(&rs.Status, appsv1.ReplicaSetReplicaFailure); cond != nil {
			return cond
		}
	}
	return nil
}

// checkPausedConditions records pausing and resuming in the Progressing condition (unless the
// deadline has already been reported).
func (c *Controllers) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := deploymentCondition(&d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == reasonTimedOut {
		return nil
	}
	pausedRecorded := cond != nil && cond.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !pausedRecorded:
		setDeploymentCondition(&d.Status, c.condition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonPaused, "Deployment is paused"))
	case !d.Spec.Paused && pausedRecorded:
		setDeploymentCondition(&d.Status, c.condition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonResumed, "Deployment is resumed"))
	default:
		return nil
	}
	return c.writeDeploymentStatus(ctx, d)
}

// cleanupDeployment deletes the oldest old ReplicaSets beyond revisionHistoryLimit, sparing
// any that still has pods or whose latest spec its own controller has not observed.
func (c *Controllers) cleanupDeployment(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	if !hasRevisionHistoryLimit(d) {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := int32(len(alive)) - *d.Spec.RevisionHistoryLimit
	if diff <= 0 {
		return nil
	}
	byRevision(alive)
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || replicasOf(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		_, _, err := c.reg.Delete(ctx, resource.ReplicaSets, rs.Namespace, rs.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return wrap(fmt.Sprintf("delete old replicaset %s/%s", rs.Namespace, rs.Name), err)
		}
	}
	return nil
}
