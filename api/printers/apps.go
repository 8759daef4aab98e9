package printers

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The descriptions come from extensions/v1beta1 because upstream takes them
// from there.
var deploymentColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Ready", "Number of the pod with ready state"),
	column("Up-to-date", extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
	column("Available", extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
	ageColumn(),
	wide(column("Containers", containersDoc)),
	wide(column("Images", imagesDoc)),
	wide(column("Selector", extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"])),
}

var replicaSetColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	integerColumn("Desired", extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
	integerColumn("Current", extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
	integerColumn("Ready", extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn(),
	wide(column("Containers", containersDoc)),
	wide(column("Images", imagesDoc)),
	wide(column("Selector", extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["selector"])),
}

func deploymentCells(d *appsv1.Deployment, now time.Time) []any {
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []any{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(d.CreationTimestamp, now),
		names,
		images,
		deploymentSelector(d.Spec.Selector),
	}
}

// deploymentSelector prints the selector in label-query form; unlike the
// other workloads, upstream leaves an empty selector blank here.
func deploymentSelector(ls *metav1.LabelSelector) string {
	selector, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return "<invalid>"
	}
	return selector.String()
}

func replicaSetCells(rs *appsv1.ReplicaSet, now time.Time) []any {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []any{
		rs.Name,
		int64(replicas(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now),
		names,
		images,
		metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

// replicas reads an optional replica count the way conversion to the
// internal types does: unset is zero (defaulting normally makes it 1 first).
func replicas(r *int32) int32 {
	if r == nil {
		return 0
	}
	return *r
}
