package api

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const svcPath = "/api/v1/namespaces/default/services"

// serviceJSON is a Service of type typ; clusterIP and nodePort are set when not empty/zero.
func serviceJSON(name, typ, clusterIP string, nodePort int) string {
	ip, np := "", ""
	if clusterIP != "" {
		ip = fmt.Sprintf(`,"clusterIP":%q`, clusterIP)
	}
	if nodePort != 0 {
		np = fmt.Sprintf(`,"nodePort":%d`, nodePort)
	}
	return fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"type":%q%s,"selector":{"app":%q},"ports":[{"port":80%s}]}}`,
		name, typ, ip, name, np)
}

// svcSummary is what a write answered: the code and the Service's address and nodePort, or
// the Status message.
func svcSummary(r response) string {
	var st metav1.Status
	looseDecode(r.body, &st)
	switch {
	case st.Kind == "Status" && r.code < 300:
		return fmt.Sprintf("%d %s", r.code, st.Status)
	case r.code >= 300:
		return fmt.Sprintf("%d %s", r.code, st.Message)
	}
	var svc corev1.Service
	looseDecode(r.body, &svc)
	ip := svc.Spec.ClusterIP
	if inServiceCIDR(ip) && ip != "10.96.5.5" && ip != "10.96.7.7" {
		ip = "<dynamic>"
	}
	np := int32(0)
	if len(svc.Spec.Ports) > 0 {
		np = svc.Spec.Ports[0].NodePort
	}
	return fmt.Sprintf("%d %s %s %d", r.code, svc.Spec.Type, ip, np)
}

func TestServiceAllocation(t *testing.T) {
	e := newEnv(t, envOptions{})
	steps := []struct {
		name, method, path, body string
		headers                  []string
		want                     string
	}{
		{"dynamic clusterIP", "POST", svcPath, serviceJSON("dyn", "ClusterIP", "", 0), nil, "201 ClusterIP <dynamic> 0"},
		{"requested clusterIP", "POST", svcPath, serviceJSON("req", "ClusterIP", "10.96.5.5", 0), nil, "201 ClusterIP 10.96.5.5 0"},
		{"taken clusterIP", "POST", svcPath, serviceJSON("taken", "ClusterIP", "10.96.5.5", 0), nil,
			`422 Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.5.5"}: failed to allocate IP 10.96.5.5: provided IP is already allocated`},
		{"clusterIP out of range", "POST", svcPath, serviceJSON("far", "ClusterIP", "10.0.0.1", 0), nil,
			`422 Service "far" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: the provided IP (10.0.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12`},
		{"nodePort", "POST", svcPath, serviceJSON("np", "NodePort", "", 30080), nil, "201 NodePort <dynamic> 30080"},
		{"nodePort taken", "POST", svcPath, serviceJSON("np2", "NodePort", "", 30080), nil,
			`422 Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`},
		{"nodePort out of range", "POST", svcPath, serviceJSON("np3", "NodePort", "", 40000), nil,
			`422 Service "np3" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767`},
		{"NodePort to ClusterIP", "PATCH", svcPath + "/np", `{"spec":{"type":"ClusterIP"}}`,
			[]string{"Content-Type", "application/merge-patch+json"}, "200 ClusterIP <dynamic> 0"},
		{"released nodePort is free", "POST", svcPath, serviceJSON("np4", "NodePort", "", 30080), nil, "201 NodePort <dynamic> 30080"},
		{"nodePort 30081", "POST", svcPath, serviceJSON("np5", "NodePort", "", 30081), nil, "201 NodePort <dynamic> 30081"},
		{"PUT NodePort to ClusterIP", "PUT", svcPath + "/np5", serviceJSON("np5", "ClusterIP", "", 0), nil, "200 ClusterIP <dynamic> 0"},
		{"nodePort released by PUT is free", "POST", svcPath, serviceJSON("np6", "NodePort", "", 30081), nil, "201 NodePort <dynamic> 30081"},
		{"delete", "DELETE", svcPath + "/req", "", nil, "200 Success"},
		{"deleted clusterIP is free", "POST", svcPath, serviceJSON("req2", "ClusterIP", "10.96.5.5", 0), nil, "201 ClusterIP 10.96.5.5 0"},
		{"dry run", "POST", svcPath + "?dryRun=All", serviceJSON("dry", "NodePort", "10.96.7.7", 30090), nil, "201 NodePort 10.96.7.7 30090"},
		{"dry run stored nothing", "GET", svcPath + "/dry", "", nil, `404 services "dry" not found`},
		{"dry run reserved nothing", "POST", svcPath, serviceJSON("wet", "NodePort", "10.96.7.7", 30090), nil, "201 NodePort 10.96.7.7 30090"},
	}
	for _, s := range steps {
		if got := svcSummary(e.do(s.method, s.path, s.body, s.headers...)); got != s.want {
			t.Errorf("%s: got  %s\nwant %s", s.name, got, s.want)
		}
	}
}

func TestServiceAllocationDryRunAndRejectsKeepPools(t *testing.T) {
	e := newEnv(t, envOptions{})
	ips, ports := e.alloc.Free()
	requests := []struct{ path, body string }{
		{svcPath + "?dryRun=All", serviceJSON("dry", "NodePort", "", 0)},
		{svcPath, `{"metadata":{"name":"bad"},"spec":{"type":"NodePort","ports":[{"port":70000,"targetPort":1}]}}`},
	}
	for _, r := range requests {
		e.do("POST", r.path, r.body)
	}
	gotIPs, gotPorts := e.alloc.Free()
	if gotIPs != ips || gotPorts != ports {
		t.Errorf("free after a dry run and a rejected create: %d IPs %d ports, want %d %d", gotIPs, gotPorts, ips, ports)
	}
}
