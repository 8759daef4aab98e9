package node

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	apiresource "github.com/podnet/podnet/api/resource"
)

// Objects reads API objects (the registry).
type Objects interface {
	Get(info *apiresource.Info, ns, name string) (runtime.Object, error)
}

// configError is a container whose configuration cannot be made (a missing ConfigMap, a bad
// key): kubelet reports it as the waiting reason CreateContainerConfigError.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, a ...any) error { return &configError{fmt.Sprintf(format, a...)} }

// commandFor is what the container runs, by Kubernetes' rules: command replaces the image's
// Entrypoint, and args replace its Cmd; command alone drops the Cmd too. $(VAR) references in
// command and args expand from the container's environment.
func commandFor(c *corev1.Container, entrypoint, cmd []string, env map[string]string) []string {
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	// Only what the pod spec wrote expands; the image's own words are taken as they are.
	expandAll := func(words []string) []string {
		out := make([]string, len(words))
		for i, w := range words {
			out[i] = expand(w, lookup)
		}
		return out
	}
	switch {
	case len(c.Command) > 0:
		return append(expandAll(c.Command), expandAll(c.Args)...)
	case len(c.Args) > 0:
		return append(slices.Clone(entrypoint), expandAll(c.Args)...)
	}
	return append(slices.Clone(entrypoint), cmd...)
}

// expand replaces $(VAR) with its value; $$ is an escaped $, and a reference to an undefined
// variable stays as written (Kubernetes' expansion rules).
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// envList is an ordered environment: later entries replace earlier ones in place.
type envList struct {
	names []string
	vals  map[string]string
}

func (e *envList) set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.names = append(e.names, k)
	}
	e.vals[k] = v
}

func (e *envList) strings() []string {
	out := make([]string, 0, len(e.names))
	for _, k := range e.names {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// envFor is the container's environment: the image's, then service links, envFrom, and env
// (each later one wins), as kubelet's makeEnvironmentVariables builds it.
func envFor(pod *corev1.Pod, c *corev1.Container, imageEnv []string, services map[string]string, objs Objects) (*envList, error) {
	var e envList
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		e.set(k, v)
	}
	for _, k := range slices.Sorted(maps.Keys(services)) {
		e.set(k, services[k])
	}
	for _, src := range c.EnvFrom {
		if err := addEnvFrom(&e, pod.Namespace, src, objs); err != nil {
			return nil, err
		}
	}
	// Values of env expand $(VAR) from what is defined so far (services and envFrom included).
	for _, v := range c.Env {
		val, err := envValue(pod, c, v, &e, objs)
		if err != nil {
			return nil, err
		}
		e.set(v.Name, val)
	}
	return &e, nil
}

func addEnvFrom(e *envList, ns string, src corev1.EnvFromSource, objs Objects) error {
	optional := func(o *bool) bool { return o != nil && *o }
	switch {
	case src.ConfigMapRef != nil:
		obj, err := objs.Get(apiresource.ConfigMaps, ns, src.ConfigMapRef.Name)
		if apierrors.IsNotFound(err) && optional(src.ConfigMapRef.Optional) {
			return nil
		}
		if err != nil {
			return configErrorf("configmap %q not found", src.ConfigMapRef.Name)
		}
		cm := obj.(*corev1.ConfigMap)
		for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
			e.set(src.Prefix+k, cm.Data[k])
		}
	case src.SecretRef != nil:
		obj, err := objs.Get(apiresource.Secrets, ns, src.SecretRef.Name)
		if apierrors.IsNotFound(err) && optional(src.SecretRef.Optional) {
			return nil
		}
		if err != nil {
			return configErrorf("secret %q not found", src.SecretRef.Name)
		}
		s := obj.(*corev1.Secret)
		for _, k := range slices.Sorted(maps.Keys(s.Data)) {
			e.set(src.Prefix+k, string(s.Data[k]))
		}
	}
	return nil
}

func envValue(pod *corev1.Pod, c *corev1.Container, v corev1.EnvVar, e *envList, objs Objects) (string, error) {
	if v.ValueFrom == nil {
		return expand(v.Value, func(k string) (string, bool) { s, ok := e.vals[k]; return s, ok }), nil
	}
	from := v.ValueFrom
	optional := func(o *bool) bool { return o != nil && *o }
	switch {
	case from.FieldRef != nil:
		return podField(pod, from.FieldRef.FieldPath)
	case from.ResourceFieldRef != nil:
		return resourceField(c, from.ResourceFieldRef)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		obj, err := objs.Get(apiresource.ConfigMaps, pod.Namespace, ref.Name)
		if err != nil {
			if optional(ref.Optional) {
				return "", nil
			}
			return "", configErrorf("configmap %q not found", ref.Name)
		}
		val, ok := obj.(*corev1.ConfigMap).Data[ref.Key]
		if !ok && !optional(ref.Optional) {
			return "", configErrorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return val, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		obj, err := objs.Get(apiresource.Secrets, pod.Namespace, ref.Name)
		if err != nil {
			if optional(ref.Optional) {
				return "", nil
			}
			return "", configErrorf("secret %q not found", ref.Name)
		}
		val, ok := obj.(*corev1.Secret).Data[ref.Key]
		if !ok && !optional(ref.Optional) {
			return "", configErrorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(val), nil
	}
	return "", nil
}

// podField resolves a downward-API field path (env fieldRef and downwardAPI volumes).
func podField(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		return joinIPs(pod.Status.HostIPs, func(i corev1.HostIP) string { return i.IP }), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		return joinIPs(pod.Status.PodIPs, func(i corev1.PodIP) string { return i.IP }), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	return "", configErrorf("unsupported fieldPath: %s", path)
}

func joinIPs[T any](ips []T, f func(T) string) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = f(ip)
	}
	return strings.Join(s, ",")
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap renders labels or annotations as the downward API does: key="value" lines, sorted.
func formatMap(m map[string]string) string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, fmt.Sprintf("%s=%s", k, strconv.Quote(m[k])))
	}
	return strings.Join(lines, "\n")
}

// resourceField resolves limits.*/requests.* with the divisor, rounding up as kubelet does; an
// unset limit reads as the node's allocatable, which here is left to the caller (0 for now is
// wrong, so it says so).
func resourceField(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	var q resource.Quantity
	var ok bool
	switch ref.Resource {
	case "limits.cpu":
		q, ok = c.Resources.Limits[corev1.ResourceCPU]
	case "limits.memory":
		q, ok = c.Resources.Limits[corev1.ResourceMemory]
	case "limits.ephemeral-storage":
		q, ok = c.Resources.Limits[corev1.ResourceEphemeralStorage]
	case "requests.cpu":
		q, ok = c.Resources.Requests[corev1.ResourceCPU]
	case "requests.memory":
		q, ok = c.Resources.Requests[corev1.ResourceMemory]
	case "requests.ephemeral-storage":
		q, ok = c.Resources.Requests[corev1.ResourceEphemeralStorage]
	default:
		return "", configErrorf("unsupported container resource: %s", ref.Resource)
	}
	if !ok {
		return "", configErrorf("%s is not set for container %s (node allocatable is not reported yet)", ref.Resource, c.Name)
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if strings.HasSuffix(ref.Resource, ".cpu") {
		m := (q.MilliValue() + div.MilliValue() - 1) / div.MilliValue()
		return strconv.FormatInt(m, 10), nil
	}
	v := (q.Value() + div.Value() - 1) / div.Value()
	return strconv.FormatInt(v, 10), nil
}

// serviceEnv is the Docker-links style environment kubelet gives every container for the
// `kubernetes` service and, with enableServiceLinks (default true), every Service of its
// namespace that has a ClusterIP.
func serviceEnv(services []*corev1.Service) map[string]string {
	env := map[string]string{}
	for _, s := range services {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		p0 := s.Spec.Ports[0]
		env[name+"_SERVICE_HOST"] = ip
		env[name+"_SERVICE_PORT"] = strconv.Itoa(int(p0.Port))
		env[name+"_PORT"] = fmt.Sprintf("%s://%s:%d", strings.ToLower(string(p0.Protocol)), ip, p0.Port)
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				env[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(p.Port))
			}
			proto := strings.ToUpper(string(p.Protocol))
			prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, proto)
			env[prefix] = fmt.Sprintf("%s://%s:%d", strings.ToLower(proto), ip, p.Port)
			env[prefix+"_PROTO"] = strings.ToLower(proto)
			env[prefix+"_PORT"] = strconv.Itoa(int(p.Port))
			env[prefix+"_ADDR"] = ip
		}
	}
	return env
}
