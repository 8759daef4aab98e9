package node

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	apiresource "github.com/podnet/podnet/api/resource"
)

type fakeObjects map[string]runtime.Object

func (f fakeObjects) Get(info *apiresource.Info, ns, name string) (runtime.Object, error) {
	if o, ok := f[info.GVR.Resource+"/"+ns+"/"+name]; ok {
		return o, nil
	}
	return nil, apierrors.NewNotFound(info.GroupResource(), name)
}

func TestCommandFor(t *testing.T) {
	ep, cmd := []string{"/docker-entrypoint.sh"}, []string{"nginx", "-g", "daemon off;"}
	env := map[string]string{"PORT": "8080"}
	cases := []struct {
		name          string
		command, args []string
		want          string
	}{
		{"image defaults", nil, nil, "/docker-entrypoint.sh|nginx|-g|daemon off;"},
		{"args replace Cmd", nil, []string{"sleep", "$(PORT)"}, "/docker-entrypoint.sh|sleep|8080"},
		{"command drops Entrypoint and Cmd", []string{"sh", "-c"}, nil, "sh|-c"},
		{"command and args", []string{"echo"}, []string{"$(PORT)", "$$(PORT)", "$(NOPE)"}, "echo|8080|$(PORT)|$(NOPE)"},
	}
	for _, tc := range cases {
		c := &corev1.Container{Command: tc.command, Args: tc.args}
		if got := strings.Join(commandFor(c, ep, cmd, env), "|"); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEnvFor(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u-1", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node1"},
		Status:     corev1.PodStatus{PodIP: "10.244.0.9"},
	}
	objs := fakeObjects{
		"configmaps/shop/cfg": &corev1.ConfigMap{Data: map[string]string{"MODE": "prod", "LEVEL": "info"}},
		"secrets/shop/db":     &corev1.Secret{Data: map[string][]byte{"password": []byte("s3cret")}},
	}
	c := &corev1.Container{
		Name:      "app",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
		EnvFrom:   []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Env: []corev1.EnvVar{
			{Name: "PATH", Value: "/app/bin:$(PATH)"},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
			{Name: "URL", Value: "http://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)/$(CFG_MODE)"},
		},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1",
		Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}}
	e, err := envFor(pod, c, []string{"PATH=/usr/bin:/bin", "HOME=/root"}, serviceEnv([]*corev1.Service{svc}), objs)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"PATH=/app/bin:/usr/bin:/bin", "HOME=/root",
		"KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_PROTO=tcp",
		"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443",
		"CFG_LEVEL=info", "CFG_MODE=prod", "POD=web", "APP=web", "IP=10.244.0.9", "MEM=64", "PW=s3cret",
		"URL=http://10.96.0.1:443/prod",
	}, "\n")
	if got := strings.Join(e.strings(), "\n"); got != want {
		t.Errorf("env:\n%s\nwant:\n%s", got, want)
	}
}

func TestEnvErrors(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	objs := fakeObjects{"configmaps/ns/cfg": &corev1.ConfigMap{Data: map[string]string{"a": "1"}}}
	ref := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}}
	}
	cases := []struct {
		env  corev1.EnvVar
		want string
	}{
		{ref("missing", "a"), `configmap "missing" not found`},
		{ref("cfg", "b"), `couldn't find key b in ConfigMap ns/cfg`},
		{corev1.EnvVar{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}, `secret "nope" not found`},
	}
	for _, tc := range cases {
		_, err := envFor(pod, &corev1.Container{Env: []corev1.EnvVar{tc.env}}, nil, nil, objs)
		var ce *configError
		if err == nil || !errors.As(err, &ce) || err.Error() != tc.want {
			t.Errorf("%s: err %v, want config error %q", tc.env.Name, err, tc.want)
		}
	}
}
