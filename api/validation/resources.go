package validation

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var standardContainerResources = sets.New(
	string(corev1.ResourceCPU), string(corev1.ResourceMemory), string(corev1.ResourceEphemeralStorage),
)

// standardResources is upstream's list of unqualified resource names that any
// resource list may carry (containers narrow it further).
var standardResources = standardContainerResources.Union(sets.New(
	"requests.cpu", "requests.memory", "requests.ephemeral-storage", "requests.storage",
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
	"persistentvolumeclaims", "storage",
))

func validateResourceRequirements(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath := fldPath.Child("limits")
	reqPath := fldPath.Child("requests")
	for _, name := range sortedNames(r.Limits) {
		q := r.Limits[name]
		errs = append(errs, validateContainerResourceName(name, limPath.Key(string(name)))...)
		errs = append(errs, validateResourceQuantity(name, q, limPath.Key(string(name)))...)
	}
	for _, name := range sortedNames(r.Requests) {
		q := r.Requests[name]
		errs = append(errs, validateContainerResourceName(name, reqPath.Key(string(name)))...)
		errs = append(errs, validateResourceQuantity(name, q, reqPath.Key(string(name)))...)
		errs = append(errs, validateRequestAgainstLimit(name, q, r.Limits, reqPath, limPath)...)
	}
	return errs
}

func validateRequestAgainstLimit(name corev1.ResourceName, req resource.Quantity, limits corev1.ResourceList, reqPath, limPath *field.Path) field.ErrorList {
	limit, ok := limits[name]
	switch {
	case !ok && !overcommitAllowed(name):
		return field.ErrorList{field.Required(limPath, "Limit must be set for non overcommitable resources")}
	case !ok:
		return nil
	case req.Cmp(limit) != 0 && !overcommitAllowed(name):
		return field.ErrorList{field.Invalid(reqPath, req.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String()))}
	case req.Cmp(limit) > 0:
		return field.ErrorList{field.Invalid(reqPath, req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String()))}
	}
	return nil
}

// overcommitAllowed: hugepages and extended resources cannot be overcommitted.
func overcommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func isNativeResource(name corev1.ResourceName) bool {
	s := string(name)
	return !strings.Contains(s, "/") || strings.Contains(s, corev1.ResourceDefaultNamespacePrefix)
}

func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	s := string(name)
	if msgs := utilvalidation.IsQualifiedName(s); len(msgs) != 0 {
		return messages(msgs, name, fldPath)
	}
	if strings.Contains(s, "/") {
		return nil
	}
	var errs field.ErrorList
	isHugePages := strings.HasPrefix(s, corev1.ResourceHugePagesPrefix)
	if !standardResources.Has(s) && !isHugePages {
		errs = append(errs, field.Invalid(fldPath, name, "must be a standard resource type or fully qualified"))
	}
	if !standardContainerResources.Has(s) && !isHugePages {
		errs = append(errs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
	}
	return errs
}

func validateResourceQuantity(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Cmp(resource.Quantity{}) < 0 {
		errs = append(errs, field.Invalid(fldPath, q.String(), isNegativeErrorMsg))
	}
	// Extended resources are counted in whole units.
	if !isNativeResource(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fldPath, q, "must be an integer"))
	}
	return errs
}

// sortedNames keeps error order stable: Go map order would shuffle messages.
func sortedNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for n := range list {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}
