package validation

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validateObjectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validatePodMetadataAndSpec(pod)...)
	for _, pair := range []struct {
		name     string
		new, old []corev1.Container
	}{{"containers", pod.Spec.Containers, old.Spec.Containers}, {"initContainers", pod.Spec.InitContainers, old.Spec.InitContainers}} {
		cErrs, stop := validateContainerUpdates(pair.new, pair.old, specPath.Child(pair.name))
		errs = append(errs, cErrs...)
		if stop {
			return errs
		}
	}
	adErrs, stop := validateActiveDeadlineUpdate(pod.Spec.ActiveDeadlineSeconds, old.Spec.ActiveDeadlineSeconds)
	errs = append(errs, adErrs...)
	if stop {
		return errs
	}
	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateOnlyDeletedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)
	return append(errs, validatePodSpecUnchanged(&pod.Spec, &old.Spec)...)
}

func validateContainerUpdates(newC, oldC []corev1.Container, fldPath *field.Path) (field.ErrorList, bool) {
	if len(newC) != len(oldC) {
		return field.ErrorList{field.Forbidden(fldPath, "pod updates may not add or remove containers")}, true
	}
	var errs field.ErrorList
	for i, c := range newC {
		if c.Image == "" {
			errs = append(errs, field.Required(fldPath.Index(i).Child("image"), ""))
		}
		if len(strings.TrimSpace(c.Image)) != len(c.Image) {
			errs = append(errs, field.Invalid(fldPath.Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	return errs, false
}

// validateActiveDeadlineUpdate allows setting the deadline or shortening it, never
// lengthening or removing it.
func validateActiveDeadlineUpdate(newV, oldV *int64) (field.ErrorList, bool) {
	fldPath := specPath.Child("activeDeadlineSeconds")
	if newV == nil {
		if oldV != nil {
			return field.ErrorList{field.Invalid(fldPath, newV, "must not update from a positive integer to nil value")}, false
		}
		return nil, false
	}
	if *newV < 0 || *newV > math.MaxInt32 {
		return field.ErrorList{field.Invalid(fldPath, *newV, utilvalidation.InclusiveRangeError(0, math.MaxInt32))}, true
	}
	if oldV != nil && *oldV < *newV {
		return field.ErrorList{field.Invalid(fldPath, *newV, "must be less than or equal to previous value")}, true
	}
	return nil, false
}

func validateOnlyAddedTolerations(newT, oldT []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range oldT {
		found := false
		for _, n := range newT {
			candidate := o
			candidate.TolerationSeconds = n.TolerationSeconds
			if reflect.DeepEqual(candidate, n) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validateTolerations(newT, fldPath)
}

func validateOnlyDeletedSchedulingGates(newG, oldG []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	old := sets.New[string]()
	for _, g := range oldG {
		old.Insert(g.Name)
	}
	var errs field.ErrorList
	for i, g := range newG {
		if !old.Has(g.Name) {
			errs = append(errs, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

// validatePodSpecUnchanged copies the updatable fields from old into a copy of the
// new spec; anything still different is a forbidden change, shown as a diff.
func validatePodSpecUnchanged(spec, old *corev1.PodSpec) field.ErrorList {
	if apiequality.Semantic.DeepEqual(spec, old) {
		return nil
	}
	munged := spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	munged.SchedulingGates = old.SchedulingGates
	munged.Tolerations = old.Tolerations
	if o, n := old.TerminationGracePeriodSeconds, munged.TerminationGracePeriodSeconds; o != nil && *o < 0 && n != nil && *n == 1 {
		munged.TerminationGracePeriodSeconds = o
	}
	if apiequality.Semantic.DeepEqual(munged, old) {
		return nil
	}
	diff := cmp.Diff(*old, *munged)
	msg := fmt.Sprintf("pod updates may not change fields other than %s\n%v", strings.Join(updatablePodSpecFields, ","), diff)
	return field.ErrorList{field.Forbidden(specPath, msg)}
}

func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validateObjectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	statusPath := field.NewPath("status")
	errs = append(errs, validatePodConditions(pod.Status.Conditions, metadataPath.Child("conditions"))...)
	if pod.Spec.NodeName != old.Spec.NodeName {
		errs = append(errs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := pod.Status.NominatedNodeName; n != old.Status.NominatedNodeName && n != "" {
		errs = append(errs, validateNameWith(nameIsDNSSubdomain, n, false, statusPath.Child("nominatedNodeName"))...)
	}
	errs = append(errs, validateImmutable(pod.Status.QOSClass, old.Status.QOSClass, statusPath.Child("qosClass"))...)
	errs = append(errs, validateContainerStateTransition(pod.Status.ContainerStatuses, old.Status.ContainerStatuses, statusPath.Child("containerStatuses"), old.Spec.RestartPolicy)...)
	errs = append(errs, validatePodIPList(podIPStrings(pod.Status.PodIPs), pod.Status.PodIPs, statusPath.Child("podIPs"))...)
	errs = append(errs, validateHostIPs(pod, statusPath.Child("hostIPs"))...)
	return errs
}

var systemPodConditions = sets.New(corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized)

// validatePodConditions uses upstream's path (metadata.conditions[i].Type) verbatim.
func validatePodConditions(conds []corev1.PodCondition, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range conds {
		if !systemPodConditions.Has(c.Type) {
			errs = append(errs, validateQualifiedName(string(c.Type), fldPath.Index(i).Child("Type"))...)
		}
	}
	return errs
}

// validateContainerStateTransition: a container that may not restart must not leave
// the terminated state.
func validateContainerStateTransition(newS, oldS []corev1.ContainerStatus, fldPath *field.Path, policy corev1.RestartPolicy) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	var errs field.ErrorList
	for i, o := range oldS {
		if o.State.Terminated == nil || (o.State.Terminated.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure) {
			continue
		}
		for _, n := range newS {
			if n.Name == o.Name && n.State.Terminated == nil {
				errs = append(errs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

func podIPStrings(ips []corev1.PodIP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP
	}
	return out
}

// validatePodIPList checks a status IP list: valid, at most one per family, no duplicates.
func validatePodIPList(ips []string, raw interface{}, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range ips {
		errs = append(errs, utilvalidation.IsValidIP(fldPath.Index(i), ip)...)
	}
	if len(ips) <= 1 || len(errs) > 0 {
		return errs
	}
	if dual, err := netutils.IsDualStackIPStrings(ips); err != nil || !dual || len(ips) > 2 {
		errs = append(errs, field.Invalid(fldPath, raw, "may specify no more than one IP for each IP family"))
	}
	seen := sets.New[string]()
	for i, ip := range ips {
		if seen.Has(ip) {
			errs = append(errs, field.Duplicate(fldPath.Index(i), ip))
		}
		seen.Insert(ip)
	}
	return errs
}

func validateHostIPs(pod *corev1.Pod, fldPath *field.Path) field.ErrorList {
	if len(pod.Status.HostIPs) == 0 {
		return nil
	}
	var errs field.ErrorList
	if pod.Status.HostIP != pod.Status.HostIPs[0].IP {
		errs = append(errs, field.Invalid(fldPath.Index(0).Child("ip"), pod.Status.HostIPs[0].IP, "must be equal to `hostIP`"))
	}
	ips := make([]string, len(pod.Status.HostIPs))
	for i, ip := range pod.Status.HostIPs {
		ips[i] = ip.IP
	}
	return append(errs, validatePodIPList(ips, pod.Status.HostIPs, fldPath)...)
}
