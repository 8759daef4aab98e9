package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

type nameFunc = apimachineryvalidation.ValidateNameFunc

// Name rules per kind, as upstream registers them.
var (
	nameIsDNSSubdomain = apimachineryvalidation.NameIsDNSSubdomain
	nameIsDNS1035Label = apimachineryvalidation.NameIsDNS1035Label
	nameIsDNSLabel     = apimachineryvalidation.NameIsDNSLabel
)

const (
	fieldImmutableErrorMsg = apimachineryvalidation.FieldImmutableErrorMsg
	isNegativeErrorMsg     = apimachineryvalidation.IsNegativeErrorMsg
)

var standardFinalizers = sets.New(
	string(corev1.FinalizerKubernetes),
	metav1.FinalizerOrphanDependents,
	metav1.FinalizerDeleteDependents,
)

var metadataPath = field.NewPath("metadata")

// validateObjectMeta is upstream core's ValidateObjectMeta: apimachinery's checks
// plus the rule that unqualified finalizers must be one of the standard ones.
func validateObjectMeta(m *metav1.ObjectMeta, namespaced bool, fn nameFunc) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMeta(m, namespaced, fn, metadataPath)
	for i := range m.Finalizers {
		errs = append(errs, validateKubeFinalizerName(m.Finalizers[i], metadataPath.Child("finalizers").Index(i))...)
	}
	return errs
}

func validateObjectMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, metadataPath)
	for i := range newMeta.Finalizers {
		errs = append(errs, validateKubeFinalizerName(newMeta.Finalizers[i], metadataPath.Child("finalizers").Index(i))...)
	}
	return errs
}

// validateMetaOnlyUpdate covers status writes to kinds whose status has no rules.
func validateMetaOnlyUpdate(obj, old runtime.Object) field.ErrorList {
	newMeta, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(metadataPath, fmt.Errorf("reading metadata of %T: %w", obj, err))}
	}
	oldMeta, err := meta.Accessor(old)
	if err != nil {
		return field.ErrorList{field.InternalError(metadataPath, fmt.Errorf("reading metadata of %T: %w", old, err))}
	}
	return apimachineryvalidation.ValidateObjectMetaAccessorUpdate(newMeta, oldMeta, metadataPath)
}

func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if strings.Contains(name, "/") || standardFinalizers.Has(name) {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
}

func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateFinalizerName(name, fldPath)
	return append(errs, validateKubeFinalizerName(name, fldPath)...)
}

// validateNameWith reports each message of a name rule as an Invalid value at fldPath.
func validateNameWith(fn nameFunc, name string, prefix bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range fn(name, prefix) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	return messages(utilvalidation.IsDNS1123Label(value), value, fldPath)
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	return messages(utilvalidation.IsDNS1123Subdomain(value), value, fldPath)
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	return messages(utilvalidation.IsQualifiedName(value), value, fldPath)
}

// messages turns the string results of a k8s.io/apimachinery/pkg/util/validation
// check into Invalid errors for value.
func messages(msgs []string, value interface{}, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateNonnegative(value int64, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(value, fldPath)
}

func validateImmutable(newVal, oldVal interface{}, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

// validatePortNumOrName checks an int-or-string port: a number in range, or an IANA service name.
func validatePortNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if port.Type == intstr.Int {
		return messages(utilvalidation.IsValidPortNum(port.IntValue()), port.IntValue(), fldPath)
	}
	return messages(utilvalidation.IsValidPortName(port.StrVal), port.StrVal, fldPath)
}
