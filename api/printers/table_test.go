package printers

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// ago is a timestamp d before testNow.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(testNow.Add(-d)) }

func microAgo(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(testNow.Add(-d)) }

// meta5m is object metadata created five minutes before testNow.
func meta5m(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(5 * time.Minute)}
}

// columnSpec renders a column as "Name" with " (wide)" for priority 1, so
// expectations read like kubectl's headers.
func columnSpec(cols []metav1.TableColumnDefinition) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name + ":" + c.Type
		if c.Priority == 1 {
			out[i] += " (wide)"
		}
	}
	return out
}

func TestColumns(t *testing.T) {
	tests := []struct {
		gk   schema.GroupKind
		want []string
	}{
		{schema.GroupKind{Kind: "Namespace"}, []string{"Name:string", "Status:string", "Age:string"}},
		{schema.GroupKind{Kind: "Pod"}, []string{"Name:string", "Ready:string", "Status:string", "Restarts:string", "Age:string",
			"IP:string (wide)", "Node:string (wide)", "Nominated Node:string (wide)", "Readiness Gates:string (wide)"}},
		{schema.GroupKind{Kind: "Service"}, []string{"Name:string", "Type:string", "Cluster-IP:string", "External-IP:string", "Port(s):string", "Age:string",
			"Selector:string (wide)"}},
		{schema.GroupKind{Kind: "Endpoints"}, []string{"Name:string", "Endpoints:string", "Age:string"}},
		{schema.GroupKind{Kind: "Event"}, []string{"Last Seen:string", "Type:string", "Reason:string", "Object:string",
			"Subobject:string (wide)", "Source:string (wide)", "Message:string", "First Seen:string (wide)", "Count:string (wide)", "Name:string (wide)"}},
		{schema.GroupKind{Kind: "Secret"}, []string{"Name:string", "Type:string", "Data:string", "Age:string"}},
		{schema.GroupKind{Kind: "ConfigMap"}, []string{"Name:string", "Data:string", "Age:string"}},
		{schema.GroupKind{Kind: "Node"}, []string{"Name:string", "Status:string", "Roles:string", "Age:string", "Version:string",
			"Internal-IP:string (wide)", "External-IP:string (wide)", "OS-Image:string (wide)", "Kernel-Version:string (wide)", "Container-Runtime:string (wide)"}},
		{schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}, []string{"Name:string", "AddressType:string", "Ports:string", "Endpoints:string", "Age:string"}},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, []string{"Name:string", "Ready:string", "Up-to-date:string", "Available:string", "Age:string",
			"Containers:string (wide)", "Images:string (wide)", "Selector:string (wide)"}},
		{schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, []string{"Name:string", "Desired:integer", "Current:integer", "Ready:integer", "Age:string",
			"Containers:string (wide)", "Images:string (wide)", "Selector:string (wide)"}},
		{schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}, []string{"Name:string", "Class:string", "Hosts:string", "Address:string", "Ports:string", "Age:string"}},
		{schema.GroupKind{Group: "networking.k8s.io", Kind: "IngressClass"}, []string{"Name:string", "Controller:string", "Parameters:string", "Age:string"}},
		{schema.GroupKind{Kind: "ServiceAccount"}, []string{"Name:string", "Age:string"}},
		{schema.GroupKind{Group: "coordination.k8s.io", Kind: "Lease"}, []string{"Name:string", "Age:string"}},
	}
	for _, tt := range tests {
		t.Run(tt.gk.String(), func(t *testing.T) {
			table, err := Table(tt.gk, nil, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := columnSpec(table.ColumnDefinitions); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("columns\n got %q\nwant %q", got, tt.want)
			}
			checkColumnDetails(t, table)
		})
	}
}

// checkColumnDetails checks what every table shares: its type, an empty
// (not null) row list, a described column each, and Format "name" exactly on
// the Name column.
func checkColumnDetails(t *testing.T, table *metav1.Table) {
	t.Helper()
	if table.APIVersion != "meta.k8s.io/v1" || table.Kind != "Table" {
		t.Errorf("TypeMeta = %+v", table.TypeMeta)
	}
	if table.Rows == nil || len(table.Rows) != 0 {
		t.Errorf("Rows = %#v, want empty non-nil", table.Rows)
	}
	for _, c := range table.ColumnDefinitions {
		if c.Description == "" {
			t.Errorf("column %q has no description", c.Name)
		}
		if wantFormat := map[bool]string{true: "name"}[c.Name == "Name"]; c.Format != wantFormat {
			t.Errorf("column %q Format = %q, want %q", c.Name, c.Format, wantFormat)
		}
	}
}

func TestColumnDescriptionsMatchUpstream(t *testing.T) {
	tests := []struct {
		gk     schema.GroupKind
		column int
		want   string
	}{
		{schema.GroupKind{Kind: "Pod"}, 3, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."},
		{schema.GroupKind{Kind: "Node"}, 1, "The status of the node"},
		{schema.GroupKind{Kind: "Event"}, 3, "The object that this event is about."},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, 1, "Number of the pod with ready state"},
		{schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, 5, "Names of each container in the template."},
		{schema.GroupKind{Kind: "ServiceAccount"}, 1, "CreationTimestamp is a timestamp representing the server time when this object was created."},
	}
	for _, tt := range tests {
		t.Run(tt.gk.String(), func(t *testing.T) {
			table, err := Table(tt.gk, nil, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := table.ColumnDefinitions[tt.column].Description; !strings.HasPrefix(got, tt.want) {
				t.Errorf("description = %q, want prefix %q", got, tt.want)
			}
		})
	}
}

func TestTableRejectsWrongType(t *testing.T) {
	_, err := Table(schema.GroupKind{Kind: "Pod"}, []runtime.Object{&corev1.Service{}}, testNow)
	const want = "printing Pod item 0: expected *v1.Pod, got *v1.Service"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestTableDoesNotShareColumns(t *testing.T) {
	gk := schema.GroupKind{Kind: "Pod"}
	first, err := Table(gk, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	first.ColumnDefinitions[0].Name = "changed"
	second, err := Table(gk, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if second.ColumnDefinitions[0].Name != "Name" {
		t.Errorf("column definitions leaked between tables: %q", second.ColumnDefinitions[0].Name)
	}
}

// cellCase is one object and the cells its row must have.
type cellCase struct {
	name string
	obj  runtime.Object
	want []any
}

func runCellCases(t *testing.T, gk schema.GroupKind, tests []cellCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := Table(gk, []runtime.Object{tt.obj}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(table.Rows))
			}
			row := table.Rows[0]
			if !reflect.DeepEqual(row.Cells, tt.want) {
				t.Errorf("cells\n got %#v\nwant %#v", row.Cells, tt.want)
			}
			if len(row.Cells) != len(table.ColumnDefinitions) {
				t.Errorf("%d cells for %d columns", len(row.Cells), len(table.ColumnDefinitions))
			}
			if row.Object.Raw != nil || row.Object.Object != nil {
				t.Errorf("row Object set: %#v", row.Object)
			}
		})
	}
}

func TestDefaultTableCells(t *testing.T) {
	runCellCases(t, schema.GroupKind{Kind: "ServiceAccount"}, []cellCase{
		{"service account", &corev1.ServiceAccount{ObjectMeta: meta5m("default")}, []any{"default", "5m"}},
		{"no creation time", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, []any{"x", "<unknown>"}},
	})
}

func TestTableRowsKeepOrder(t *testing.T) {
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", CreationTimestamp: ago(26 * time.Hour)}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: ago(90 * time.Second)}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	}
	table, err := Table(schema.GroupKind{Kind: "Namespace"}, objs, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]any
	for _, r := range table.Rows {
		got = append(got, r.Cells)
	}
	want := [][]any{{"b", "Active", "26h"}, {"a", "Terminating", "90s"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows\n got %#v\nwant %#v", got, want)
	}
}
