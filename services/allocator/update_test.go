package allocator

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestUpdate(t *testing.T) {
	tests := []struct {
		name string
		old  *corev1.Service
		// edit turns a copy of the created old Service into the update request.
		edit         func(*corev1.Service)
		want         string
		heldCommit   string
		heldRollback string
	}{{
		name:         "ClusterIP to NodePort allocates the requested port",
		old:          svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.20")),
		edit:         func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30080 },
		want:         "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:30080] hc=0",
		heldCommit:   "ips=[10.96.0.20] ports=[30080]",
		heldRollback: "ips=[10.96.0.20] ports=[]",
	}, {
		name:         "NodePort to ClusterIP drops and releases the untouched nodePort",
		old:          svc("a", corev1.ServiceTypeNodePort, withIP("10.96.0.20"), withNodePort(30080)),
		edit:         func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP },
		want:         "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:0] hc=0",
		heldCommit:   "ips=[10.96.0.20] ports=[]",
		heldRollback: "ips=[10.96.0.20] ports=[30080]",
	}, {
		name: "ClusterIP to ExternalName drops and releases the address",
		old:  svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.20")),
		edit: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		},
		want:         "clusterIP= clusterIPs=[] ipFamilies=[] ipFamilyPolicy=<nil> ports=[80/TCP:0] hc=0",
		heldCommit:   "ips=[] ports=[]",
		heldRollback: "ips=[10.96.0.20] ports=[]",
	}, {
		name: "LoadBalancer Local to ExternalName releases address, nodePort and health check port",
		old:  svc("a", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), withNodePort(30080), withLocal(30100)),
		edit: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		},
		want:         "clusterIP= clusterIPs=[] ipFamilies=[] ipFamilyPolicy=<nil> ports=[80/TCP:0] hc=0",
		heldCommit:   "ips=[] ports=[]",
		heldRollback: "ips=[10.96.0.20] ports=[30080 30100]",
	}, {
		name:         "ExternalName to ClusterIP allocates the requested address",
		old:          svc("a", corev1.ServiceTypeExternalName, externalName()),
		edit:         func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP; s.Spec.ClusterIP = "10.96.0.30" },
		want:         "clusterIP=10.96.0.30 clusterIPs=[10.96.0.30] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:0] hc=0",
		heldCommit:   "ips=[10.96.0.30] ports=[]",
		heldRollback: "ips=[] ports=[]",
	}, {
		name:         "nodePort change takes the new port and frees the old one",
		old:          svc("a", corev1.ServiceTypeNodePort, withIP("10.96.0.20"), withNodePort(30080)),
		edit:         func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30081 },
		want:         "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:30081] hc=0",
		heldCommit:   "ips=[10.96.0.20] ports=[30081]",
		heldRollback: "ips=[10.96.0.20] ports=[30080]",
	}, {
		name: "resubmitting the original manifest keeps what was allocated",
		old:  svc("a", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), withNodePort(30080), withLocal(30100)),
		edit: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = "", nil, nil, nil
			s.Spec.Ports[0].NodePort, s.Spec.HealthCheckNodePort = 0, 0
		},
		want:         "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:30080] hc=30100",
		heldCommit:   "ips=[10.96.0.20] ports=[30080 30100]",
		heldRollback: "ips=[10.96.0.20] ports=[30080 30100]",
	}, {
		name:         "LoadBalancer Local to Cluster releases the health check port",
		old:          svc("a", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), withNodePort(30080), withLocal(30100)),
		edit:         func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster },
		want:         "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:30080] hc=0",
		heldCommit:   "ips=[10.96.0.20] ports=[30080]",
		heldRollback: "ips=[10.96.0.20] ports=[30080 30100]",
	}, {
		name:         "NodePort to LoadBalancer Local keeps the nodePort and adds a health check port",
		old:          svc("a", corev1.ServiceTypeNodePort, withIP("10.96.0.20"), withNodePort(30080)),
		edit:         func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer; withLocal(30100)(s) },
		want:         "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:30080] hc=30100",
		heldCommit:   "ips=[10.96.0.20] ports=[30080 30100]",
		heldRollback: "ips=[10.96.0.20] ports=[30080]",
	}}
	for _, tt := range tests {
		for _, commit := range []bool{true, false} {
			name := tt.name + map[bool]string{true: "/commit", false: "/rollback"}[commit]
			t.Run(name, func(t *testing.T) {
				a := newDefault(t)
				old := mustCreate(t, a, tt.old)
				next := old.DeepCopy()
				tt.edit(next)
				txn, err := a.Update(next, old)
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				if got := describe(next); got != tt.want {
					t.Errorf("service:\n got %s\nwant %s", got, tt.want)
				}
				want := tt.heldRollback
				if commit {
					txn.Commit()
					want = tt.heldCommit
				} else {
					txn.Rollback()
				}
				txn.Commit() // the first of Commit and Rollback wins
				txn.Rollback()
				if got := held(a); got != want {
					t.Errorf("held:\n got %s\nwant %s", got, want)
				}
			})
		}
	}
}

func TestUpdateErrors(t *testing.T) {
	tests := []struct {
		name        string
		old         *corev1.Service
		edit        func(*corev1.Service)
		want        string
		wantInvalid bool
	}{{
		name:        "changed ClusterIP",
		old:         svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.20")),
		edit:        func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.21", []string{"10.96.0.21"} },
		want:        `spec.clusterIPs[0]: Invalid value: []string{"10.96.0.21"}: may not change once set`,
		wantInvalid: true,
	}, {
		name:        "new nodePort already taken by another service",
		old:         svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.20")),
		edit:        func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30099 },
		want:        `spec.ports[0].nodePort: Invalid value: 30099: provided port is already allocated`,
		wantInvalid: true,
	}, {
		name: "a nodePort changed while switching to ClusterIP",
		old:  svc("a", corev1.ServiceTypeNodePort, withIP("10.96.0.20"), withNodePort(30080)),
		edit: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			s.Spec.Ports[0].NodePort = 30081
		},
		want:        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
		wantInvalid: true,
	}, {
		name: "second nodePort taken: the first one taken by this update is given back",
		old:  svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.20")),
		edit: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = []corev1.ServicePort{
				{Name: "a", Port: 80, Protocol: corev1.ProtocolTCP, NodePort: 30081},
				{Name: "b", Port: 81, Protocol: corev1.ProtocolTCP, NodePort: 30099},
			}
		},
		want:        `spec.ports[1].nodePort: Invalid value: 30099: provided port is already allocated`,
		wantInvalid: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newDefault(t)
			mustCreate(t, a, svc("other", corev1.ServiceTypeNodePort, withIP("10.96.0.99"), withNodePort(30099)))
			old := mustCreate(t, a, tt.old)
			before := held(a)
			next := old.DeepCopy()
			tt.edit(next)
			txn, err := a.Update(next, old)
			if err == nil {
				t.Fatalf("Update succeeded: %s", describe(next))
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			var inv *InvalidError
			if got := errors.As(err, &inv); got != tt.wantInvalid {
				t.Errorf("errors.As(*InvalidError) = %v, want %v", got, tt.wantInvalid)
			}
			if txn != nil {
				t.Errorf("failed Update returned a Txn")
			}
			if after := held(a); after != before {
				t.Errorf("failed Update changed reservations:\n got %s\nwant %s", after, before)
			}
		})
	}
}

func TestCreateRollbackAndDelete(t *testing.T) {
	tests := []struct {
		name string
		run  func(*Allocator)
		want string
	}{{
		name: "rollback of a create frees everything",
		run: func(a *Allocator) {
			txn, _ := a.Create(svc("a", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), withNodePort(30080), withLocal(30100)))
			txn.Rollback()
			txn.Rollback()
			txn.Commit()
		},
		want: "ips=[] ports=[]",
	}, {
		name: "delete holds until commit",
		run: func(a *Allocator) {
			s := svc("a", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), withNodePort(30080), withLocal(30100))
			txn, _ := a.Create(s)
			txn.Commit()
			a.Delete(s).Rollback()
		},
		want: "ips=[10.96.0.20] ports=[30080 30100]",
	}, {
		name: "delete releases address, nodePorts and health check port on commit",
		run: func(a *Allocator) {
			s := svc("a", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), withNodePort(30080), withLocal(30100))
			txn, _ := a.Create(s)
			txn.Commit()
			d := a.Delete(s)
			d.Commit()
			d.Commit()
		},
		want: "ips=[] ports=[]",
	}, {
		name: "deleting a headless service frees nothing",
		run: func(a *Allocator) {
			txn, _ := a.Create(svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.20")))
			txn.Commit()
			a.Delete(svc("h", corev1.ServiceTypeClusterIP, withIP("None"))).Commit()
		},
		want: "ips=[10.96.0.20] ports=[]",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newDefault(t)
			tt.run(a)
			if got := held(a); got != tt.want {
				t.Errorf("held:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
