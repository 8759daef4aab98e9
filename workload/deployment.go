package workload

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

// syncDeployment reconciles one Deployment, following kube-controller-manager's order: a
// deployment being deleted only gets its status, a paused one or a scaling event is scaled
// in place, anything else rolls out by its strategy.
func (c *Controllers) syncDeployment(ctx context.Context, ns, name string) error {
	obj, err := c.reg.Get(resource.Deployments, ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return wrap("get deployment", err)
	}
	d := obj.(*appsv1.Deployment)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("deployment %s/%s: invalid selector: %w", ns, name, err)
	}
	if sel.Empty() {
		return c.selectingAll(ctx, d)
	}
	rsList, err := c.replicaSetsFor(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return c.rolloutRecreate(ctx, d, rsList, sel)
	}
	return c.rolloutRolling(ctx, d, rsList)
}

// selectingAll refuses an empty selector, which would claim every pod of the namespace.
func (c *Controllers) selectingAll(ctx context.Context, d *appsv1.Deployment) error {
	c.events.event(deploymentComponent, resource.Deployments, d, corev1.EventTypeWarning, "SelectingAll",
		"%s", messageSelectingAllRequired)
	if d.Status.ObservedGeneration >= d.Generation {
		return nil
	}
	d.Status.ObservedGeneration = d.Generation
	return c.writeDeploymentStatus(ctx, d)
}

// replicaSetsFor returns the ReplicaSets d controls, adopting and releasing by its selector.
func (c *Controllers) replicaSetsFor(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	objs, _, err := c.reg.List(resource.ReplicaSets, d.Namespace, registry.ListOptions{})
	if err != nil {
		return nil, wrap("list replicasets", err)
	}
	ref := controllerRef(resource.Deployments, &d.ObjectMeta)
	var owned []*appsv1.ReplicaSet
	for _, o := range objs {
		got, err := c.claim(ctx, resource.ReplicaSets, o.(*appsv1.ReplicaSet), sel, ref, d.DeletionTimestamp != nil)
		if err != nil {
			return nil, err
		}
		if got != nil {
			owned = append(owned, got.(*appsv1.ReplicaSet))
		}
	}
	return owned, nil
}

// findNewReplicaSet is the oldest ReplicaSet whose template is the deployment's.
func findNewReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), rsList...)
	olderFirst(sorted)
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// splitReplicaSets splits rsList into the new ReplicaSet (created when create is set and there is
// none) and all the others, and records the new one's revision on the deployment.
func (c *Controllers) splitReplicaSets(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := findNewReplicaSet(d, rsList)
	var old []*appsv1.ReplicaSet
	for _, rs := range rsList {
		if existing == nil || rs.UID != existing.UID {
			old = append(old, rs)
		}
	}
	newRevision := strconv.FormatInt(maxRevision(old)+1, 10)
	if existing != nil {
		rs, err := c.syncExistingNewReplicaSet(ctx, d, existing, newRevision)
		return rs, old, err
	}
	if !create {
		return nil, old, nil
	}
	rs, err := c.createNewReplicaSet(ctx, d, old, newRevision)
	return rs, old, err
}

// syncExistingNewReplicaSet brings the new ReplicaSet's annotations and minReadySeconds up to
// date, and the deployment's revision and Progressing condition with it.
func (c *Controllers) syncExistingNewReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision string) (*appsv1.ReplicaSet, error) {
	want := rs.DeepCopy()
	changed := setNewReplicaSetAnnotations(d, want, newRevision, true)
	if changed || want.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
		want.Spec.MinReadySeconds = d.Spec.MinReadySeconds
		err := c.updateReplicaSet(ctx, rs, func(cur *appsv1.ReplicaSet) {
			cur.Annotations, cur.Spec.MinReadySeconds = want.Annotations, want.Spec.MinReadySeconds
		})
		return rs, err
	}
	if err := c.setDeploymentRevision(ctx, d, rs.Annotations[RevisionAnnotation]); err != nil {
		return nil, err
	}
	if hasProgressDeadline(d) && deploymentCondition(&d.Status, appsv1.DeploymentProgressing) == nil {
		setDeploymentCondition(&d.Status, c.condition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			reasonFoundNewRS, fmt.Sprintf("Found new replica set %q", rs.Name)))
		if err := c.writeDeploymentStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// createNewReplicaSet makes "<deployment>-<pod-template-hash>" with the hash label added to its
// selector and template. A name taken by a ReplicaSet that is not the deployment's new one is a
// hash collision: collisionCount goes up and the next sync tries another name.
func (c *Controllers) createNewReplicaSet(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet, newRevision string) (*appsv1.ReplicaSet, error) {
	rs := newReplicaSetFor(d)
	n := newRSReplicas(d, append(append([]*appsv1.ReplicaSet(nil), old...), rs), rs)
	rs.Spec.Replicas = &n
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	out, err := c.reg.Create(ctx, resource.ReplicaSets, d.Namespace, rs, registry.WriteOptions{})
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		existing, ok, cerr := c.sameReplicaSet(d, rs.Name)
		if cerr != nil {
			return nil, cerr
		}
		if !ok {
			return nil, c.recordCollision(ctx, d, err)
		}
		out, err = existing, nil
	case hasNamespaceTerminatingCause(err):
		return nil, err
	case err != nil:
		return nil, c.recordCreateFailure(ctx, d, rs.Name, err)
	}
	created := out.(*appsv1.ReplicaSet)
	if !alreadyExists && n > 0 {
		c.events.event(deploymentComponent, resource.Deployments, d, corev1.EventTypeNormal, "ScalingReplicaSet",
			"Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	if err := c.setDeploymentRevision(ctx, d, newRevision); err != nil {
		return nil, err
	}
	if !alreadyExists && hasProgressDeadline(d) {
		setDeploymentCondition(&d.Status, c.condition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			reasonNewRSCreated, fmt.Sprintf("Created new replica set %q", created.Name)))
		if err := c.writeDeploymentStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

func newReplicaSetFor(d *appsv1.Deployment) *appsv1.ReplicaSet {
	template := *d.Spec.Template.DeepCopy()
	hash := ComputeHash(&template, d.Status.CollisionCount)
	template.Labels = withLabel(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels = withLabel(sel.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	zero := int32(0)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: template.Labels,
			OwnerReferences: []metav1.OwnerReference{controllerRef(resource.Deployments, &d.ObjectMeta)},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: template},
	}
}

func withLabel(in map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(in)+1)
	for key, val := range in {
		out[key] = val
	}
	out[k] = v
	return out
}

// sameReplicaSet reads the ReplicaSet holding name and says whether it is d's new one after all
// (created by an earlier sync whose answer was lost).
func (c *Controllers) sameReplicaSet(d *appsv1.Deployment, name string) (runtime.Object, bool, error) {
	obj, err := c.reg.Get(resource.ReplicaSets, d.Namespace, name)
	if err != nil {
		return nil, false, wrap("get replicaset", err)
	}
	rs := obj.(*appsv1.ReplicaSet)
	ref := metav1.GetControllerOf(rs)
	return obj, ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &rs.Spec.Template), nil
}

func (c *Controllers) recordCollision(ctx context.Context, d *appsv1.Deployment, cause error) error {
	if d.Status.CollisionCount == nil {
		d.Status.CollisionCount = new(int32)
	}
	*d.Status.CollisionCount++
	return errs(cause, c.writeDeploymentStatus(ctx, d))
}

func (c *Controllers) recordCreateFailure(ctx context.Context, d *appsv1.Deployment, name string, cause error) error {
	msg := fmt.Sprintf("Failed to create new replica set %q: %v", name, cause)
	var werr error
	if hasProgressDeadline(d) {
		setDeploymentCondition(&d.Status, c.condition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonFailedRSCreate, msg))
		werr = c.writeDeploymentStatus(ctx, d)
	}
	c.events.event(deploymentComponent, resource.Deployments, d, corev1.EventTypeWarning, reasonFailedRSCreate, "%s", msg)
	return errs(cause, werr)
}

// newRSReplicas is the size of the new ReplicaSet for this step of the rollout.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	replicas := replicasOf(d.Spec.Replicas)
	if !isRollingUpdate(d) {
		return replicas
	}
	cur := replicasOf(newRS.Spec.Replicas)
	maxTotal := replicas + maxSurge(d)
	current := sumSpecReplicas(all)
	if current >= maxTotal {
		return cur
	}
	return cur + min(maxTotal-current, replicas-cur)
}

// setDeploymentRevision records the new ReplicaSet's revision on the deployment. It is
// metadata, which podnet's status subresource keeps as stored, so it is a write of its own.
func (c *Controllers) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, rev string) error {
	if d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	out, err := c.reg.Update(ctx, resource.Deployments, d.Namespace, d.Name, "", func(cur runtime.Object) (runtime.Object, error) {
		m := accessor(cur)
		a := m.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[RevisionAnnotation] = rev
		m.SetAnnotations(a)
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		return wrap(fmt.Sprintf("set revision of deployment %s/%s", d.Namespace, d.Name), err)
	}
	od := out.(*appsv1.Deployment)
	if od.Generation != d.Generation {
		// The spec changed under us: this sync's decisions are stale.
		return registry.Conflict(resource.Deployments, d.Name)
	}
	d.Annotations, d.ResourceVersion = od.Annotations, od.ResourceVersion
	return nil
}

// updateReplicaSet applies change to the stored ReplicaSet and copies the result into rs, which
// the caller's lists share.
func (c *Controllers) updateReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, change func(cur *appsv1.ReplicaSet)) error {
	out, err := c.reg.Update(ctx, resource.ReplicaSets, rs.Namespace, rs.Name, "", func(cur runtime.Object) (runtime.Object, error) {
		r := cur.(*appsv1.ReplicaSet)
		if r.UID != rs.UID {
			return nil, registry.Conflict(resource.ReplicaSets, rs.Name)
		}
		change(r)
		return r, nil
	}, registry.WriteOptions{})
	if err != nil {
		return wrap(fmt.Sprintf("update replicaset %s/%s", rs.Namespace, rs.Name), err)
	}
	*rs = *out.(*appsv1.ReplicaSet)
	return nil
}

// writeDeploymentStatus stores d.Status unless it is what is stored.
func (c *Controllers) writeDeploymentStatus(ctx context.Context, d *appsv1.Deployment) error {
	st := *d.Status.DeepCopy()
	_, err := c.reg.Update(ctx, resource.Deployments, d.Namespace, d.Name, "status", func(cur runtime.Object) (runtime.Object, error) {
		cd := cur.(*appsv1.Deployment)
		if cd.UID != d.UID {
			return nil, registry.Conflict(resource.Deployments, d.Name)
		}
		if equality.Semantic.DeepEqual(cd.Status, st) {
			return cur, nil
		}
		cd.Status = st
		return cd, nil
	}, registry.WriteOptions{})
	return wrap(fmt.Sprintf("update status of deployment %s/%s", d.Namespace, d.Name), err)
}
