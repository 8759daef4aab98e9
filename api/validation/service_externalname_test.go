package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestExternalNameService pins ValidateService's ExternalName rules and messages, upstream's word
// for word: a lowercase RFC 1123 name (a trailing dot allowed), and no cluster IPs or families.
func TestExternalNameService(t *testing.T) {
	policy := corev1.IPFamilyPolicySingleStack
	externalName := func(name string, more ...func(*corev1.Service)) *corev1.Service {
		return newService(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.Selector, s.Spec.Ports = corev1.ServiceTypeExternalName, name, nil, nil
			for _, m := range more {
				m(s)
			}
		})
	}
	subdomainMsg := `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
	tests := []struct {
		name string
		svc  *corev1.Service
		want string
	}{
		{"no ports, no selector", externalName("db.example.com"), ""},
		{"fully qualified", externalName("db.example.com."), ""},
		{"single label", externalName("db"), ""},
		{"capitals", externalName("DB.Example.com"),
			`Service "web" is invalid: spec.externalName: Invalid value: "DB.Example.com": ` + subdomainMsg},
		{"underscore", externalName("my_db.example.com"),
			`Service "web" is invalid: spec.externalName: Invalid value: "my_db.example.com": ` + subdomainMsg},
		{"only a dot", externalName("."), `Service "web" is invalid: spec.externalName: Required value`},
		{"too long", externalName(strings.Repeat("a.", 127) + "a"),
			`Service "web" is invalid: spec.externalName: Invalid value: "` + strings.Repeat("a.", 127) + `a": must be no more than 253 characters`},
		{"families and policy", externalName("db.example.com", func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			s.Spec.IPFamilyPolicy = &policy
		}), `Service "web" is invalid: [spec.ipFamilies: Forbidden: may not be set for ExternalName services, spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services]`},
		{"headless", externalName("db.example.com", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}), `Service "web" is invalid: spec.clusterIPs: Forbidden: may not be set for ExternalName services`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := message("Service", tt.svc.Name, ValidateCreate(tt.svc)); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
