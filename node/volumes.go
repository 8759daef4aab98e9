package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	apiresource "github.com/podnet/podnet/api/resource"
)

// volumeDir is where a pod's volumes live: <data-dir>/pods/<uid>/volumes/<plugin>/<name>, the
// layout kubelet uses under /var/lib/kubelet.
func volumeDir(podsDir string, pod *corev1.Pod, plugin, name string) string {
	return filepath.Join(podsDir, string(pod.UID), "volumes", plugin, name)
}

// mountsFor are the volume mounts of container c: what setupVolumes made, by name.
func mountsFor(c *corev1.Container, vols map[string]string) ([]Mount, error) {
	var out []Mount
	for _, vm := range c.VolumeMounts {
		src, ok := vols[vm.Name]
		if !ok {
			return nil, configErrorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		if vm.SubPath != "" {
			if filepath.IsAbs(vm.SubPath) || strings.Contains(vm.SubPath, "..") {
				return nil, configErrorf("invalid subPath %q", vm.SubPath)
			}
			src = filepath.Join(src, vm.SubPath)
			if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, fmt.Errorf("subPath: %w", err)
				}
			}
		}
		out = append(out, Mount{Source: src, Destination: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	return out, nil
}

// volumeSetup makes a pod's volumes on the host (objs reads ConfigMaps and Secrets) and returns
// each one's host path by volume name. It is repeatable: ConfigMap, Secret and downward API
// contents are rewritten from the current objects.
type volumeSetup struct {
	podsDir string
	objs    Objects
	mounter func(source, target, fstype string, flags uintptr, data string) error
}

func (v *volumeSetup) setup(pod *corev1.Pod) (map[string]string, error) {
	out := map[string]string{}
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		p, err := v.one(pod, vol)
		if err != nil {
			return nil, err
		}
		out[vol.Name] = p
	}
	return out, nil
}

func (v *volumeSetup) one(pod *corev1.Pod, vol *corev1.Volume) (string, error) {
	src := vol.VolumeSource
	switch {
	case src.EmptyDir != nil:
		dir := volumeDir(v.podsDir, pod, "kubernetes.io~empty-dir", vol.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return "", err
		}
		os.Chmod(dir, 0o777) // as kubelet: any container user may write an emptyDir
		if src.EmptyDir.Medium == corev1.StorageMediumMemory && !isMountPoint(dir) {
			opts := "mode=0777"
			if l := src.EmptyDir.SizeLimit; l != nil && !l.IsZero() {
				opts += ",size=" + strconv.FormatInt(l.Value(), 10)
			}
			if err := v.mounter("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
				return "", fmt.Errorf("emptyDir %s on tmpfs: %w", vol.Name, err)
			}
		}
		return dir, nil
	case src.HostPath != nil:
		return hostPathVolume(src.HostPath)
	case src.ConfigMap != nil:
		files, err := v.configMapFiles(pod.Namespace, src.ConfigMap)
		if err != nil {
			return "", err
		}
		return v.writeFiles(pod, "kubernetes.io~configmap", vol.Name, files, src.ConfigMap.DefaultMode)
	case src.Secret != nil:
		files, err := v.secretFiles(pod.Namespace, src.Secret)
		if err != nil {
			return "", err
		}
		return v.writeFiles(pod, "kubernetes.io~secret", vol.Name, files, src.Secret.DefaultMode)
	case src.DownwardAPI != nil:
		files := map[string][]byte{}
		for _, it := range src.DownwardAPI.Items {
			if it.FieldRef == nil {
				continue // resourceFieldRef needs the container's limits: not supported here yet
			}
			val, err := podField(pod, it.FieldRef.FieldPath)
			if err != nil {
				return "", err
			}
			files[it.Path] = []byte(val)
		}
		return v.writeFiles(pod, "kubernetes.io~downward-api", vol.Name, files, src.DownwardAPI.DefaultMode)
	}
	return "", configErrorf("volume %q: this volume type is not supported by podnet", vol.Name)
}

func (v *volumeSetup) configMapFiles(ns string, s *corev1.ConfigMapVolumeSource) (map[string][]byte, error) {
	obj, err := v.objs.Get(apiresource.ConfigMaps, ns, s.Name)
	if apierrors.IsNotFound(err) && s.Optional != nil && *s.Optional {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, configErrorf("configmap %q not found", s.Name)
	}
	cm := obj.(*corev1.ConfigMap)
	data := map[string][]byte{}
	for k, val := range cm.Data {
		data[k] = []byte(val)
	}
	for k, val := range cm.BinaryData {
		data[k] = val
	}
	return pickItems(data, s.Items, "configmap references non-existent config key: %s", s.Optional)
}

func (v *volumeSetup) secretFiles(ns string, s *corev1.SecretVolumeSource) (map[string][]byte, error) {
	obj, err := v.objs.Get(apiresource.Secrets, ns, s.SecretName)
	if apierrors.IsNotFound(err) && s.Optional != nil && *s.Optional {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, configErrorf("secret %q not found", s.SecretName)
	}
	return pickItems(obj.(*corev1.Secret).Data, s.Items, "references non-existent secret key: %s", s.Optional)
}

// pickItems applies a volume's items (key → path); without items every key is a file.
// missing is kubelet's message for a key that is not there.
func pickItems(data map[string][]byte, items []corev1.KeyToPath, missing string, optional *bool) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		val, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return nil, configErrorf(missing, it.Key)
		}
		out[it.Path] = val
	}
	return out, nil
}

// writeFiles writes a projected volume's files; keys never escape the volume directory.
func (v *volumeSetup) writeFiles(pod *corev1.Pod, plugin, name string, files map[string][]byte, mode *int32) (string, error) {
	dir := volumeDir(v.podsDir, pod, plugin, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	perm := os.FileMode(0o644)
	if mode != nil {
		perm = os.FileMode(*mode) & 0o777
	}
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			return "", configErrorf("volume %q: path %q escapes the volume", name, rel)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, data, perm); err != nil {
			return "", err
		}
		os.Chmod(p, perm)
	}
	return dir, nil
}

func hostPathVolume(h *corev1.HostPathVolumeSource) (string, error) {
	t := corev1.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	fi, err := os.Stat(h.Path)
	exists := err == nil
	switch t {
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			return h.Path, os.MkdirAll(h.Path, 0o755)
		}
		if !fi.IsDir() {
			return "", configErrorf("hostPath type check failed: %s is not a directory", h.Path)
		}
	case corev1.HostPathDirectory:
		if !exists || !fi.IsDir() {
			return "", configErrorf("hostPath type check failed: %s is not a directory", h.Path)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", err
			}
			return h.Path, f.Close()
		}
		if fi.IsDir() {
			return "", configErrorf("hostPath type check failed: %s is not a file", h.Path)
		}
	case corev1.HostPathFile:
		if !exists || fi.IsDir() {
			return "", configErrorf("hostPath type check failed: %s is not a file", h.Path)
		}
	case corev1.HostPathSocket:
		if !exists || fi.Mode()&fs.ModeSocket == 0 {
			return "", configErrorf("hostPath type check failed: %s is not a socket file", h.Path)
		}
	}
	return h.Path, nil
}

func isMountPoint(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// teardownVolumes unmounts memory-backed emptyDirs and removes the pod's volume directories.
func teardownVolumes(podsDir, podUID string) error {
	root := filepath.Join(podsDir, podUID)
	matches, _ := filepath.Glob(filepath.Join(root, "volumes", "kubernetes.io~empty-dir", "*"))
	for _, m := range matches {
		if isMountPoint(m) {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %s: %w", m, err)
			}
		}
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("removing pod volumes: %w", err)
	}
	return nil
}
