package node

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// securityFor merges the pod's and the container's security contexts (the container's wins)
// into the process identity and the container's privileges, as kubelet does.
func securityFor(pod *corev1.Pod, c *corev1.Container, img *ImageInfo, proc *Process) (Security, error) {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	pick := func(a, b *int64) *int64 {
		if a != nil {
			return a
		}
		return b
	}
	proc.UID = pick(csc.RunAsUser, psc.RunAsUser)
	proc.GID = pick(csc.RunAsGroup, psc.RunAsGroup)
	if proc.UID == nil && img.User != "" {
		user, group, _ := strings.Cut(img.User, ":")
		if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
			proc.UID = &uid
		} else {
			proc.Username = user
		}
		if gid, err := strconv.ParseInt(group, 10, 64); err == nil && proc.GID == nil {
			proc.GID = &gid
		}
	}
	proc.SupplementalGIDs = psc.SupplementalGroups
	nonRoot := csc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	if nonRoot != nil && *nonRoot {
		switch {
		case proc.UID == nil && proc.Username != "":
			return Security{}, configErrorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)",
				proc.Username, podDesc(pod), c.Name)
		case proc.UID == nil || *proc.UID == 0:
			return Security{}, configErrorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podDesc(pod), c.Name)
		}
	}
	sec := Security{
		Privileged:             csc.Privileged != nil && *csc.Privileged,
		NoNewPrivileges:        csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation,
		ReadOnlyRootFilesystem: csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem,
	}
	if caps := csc.Capabilities; caps != nil {
		for _, a := range caps.Add {
			sec.CapAdd = append(sec.CapAdd, string(a))
		}
		for _, d := range caps.Drop {
			sec.CapDrop = append(sec.CapDrop, string(d))
		}
	}
	prof := csc.SeccompProfile
	if prof == nil {
		prof = psc.SeccompProfile
	}
	if prof != nil {
		switch prof.Type {
		case corev1.SeccompProfileTypeRuntimeDefault:
			sec.SeccompRuntimeDefault = true
		case corev1.SeccompProfileTypeLocalhost:
			return Security{}, configErrorf("seccomp profile type Localhost is not supported by podnet")
		}
	}
	return sec, nil
}

// podDesc is kubelet's format.Pod: name_namespace(uid).
func podDesc(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

func resourcesFor(c *corev1.Container) Resources {
	var r Resources
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimit = q.Value()
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPUMilliLimit = q.MilliValue()
	}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CPUMilliReq = q.MilliValue()
	}
	return r
}
