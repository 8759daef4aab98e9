// Package core mirrors the few internal kube-apiserver types whose Go syntax
// representation (%#v) appears verbatim in validation messages, so that podnet's
// messages read exactly like a real cluster's ("core.ServicePort{...}").
package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ServicePort has the field order and types of the internal core.ServicePort.
type ServicePort struct {
	Name        string
	Protocol    corev1.Protocol
	AppProtocol *string
	Port        int32
	TargetPort  intstr.IntOrString
	NodePort    int32
}
