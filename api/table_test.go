package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// tableSummary renders a Table: its columns (wide ones marked), then per row its cells and the
// kind of the embedded object.
func tableSummary(t *testing.T, body string) string {
	t.Helper()
	tbl := decode[struct {
		Kind    string `json:"kind"`
		Columns []struct {
			Name     string `json:"name"`
			Priority int    `json:"priority"`
		} `json:"columnDefinitions"`
		Rows []struct {
			Cells  []any           `json:"cells"`
			Object json.RawMessage `json:"object"`
		} `json:"rows"`
	}](t, body)
	var cols []string
	for _, c := range tbl.Columns {
		if c.Priority > 0 {
			c.Name += "(wide)"
		}
		cols = append(cols, c.Name)
	}
	out := []string{tbl.Kind + ": " + strings.Join(cols, " | ")}
	for _, r := range tbl.Rows {
		var obj struct{ Kind string }
		looseDecode(string(r.Object), &obj)
		if obj.Kind == "" {
			obj.Kind = "no object"
		}
		out = append(out, fmt.Sprintf("%v (%s)", r.Cells, obj.Kind))
	}
	return strings.Join(out, "\n")
}

func TestTableOutput(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", svcPath, serviceJSON("web", "NodePort", "10.96.5.5", 30080))
	const columns = "Table: Name | Type | Cluster-IP | External-IP | Port(s) | Age | Selector(wide)"
	tests := []struct {
		name, path string
		want       string
	}{
		{"list", svcPath, columns + `
[kubernetes ClusterIP 10.96.0.1 <none> 443/TCP 5m <none>] (PartialObjectMetadata)
[web NodePort 10.96.5.5 <none> 80:30080/TCP 5m app=web] (PartialObjectMetadata)`},
		{"includeObject=Object", svcPath + "?includeObject=Object&fieldSelector=metadata.name%3Dweb", columns + `
[web NodePort 10.96.5.5 <none> 80:30080/TCP 5m app=web] (Service)`},
		{"includeObject=None", svcPath + "?includeObject=None&labelSelector=provider%3Dkubernetes", columns + `
[kubernetes ClusterIP 10.96.0.1 <none> 443/TCP 5m <none>] (no object)`},
		{"get", svcPath + "/web", columns + `
[web NodePort 10.96.5.5 <none> 80:30080/TCP 5m app=web] (PartialObjectMetadata)`},
	}
	for _, tt := range tests {
		r := e.must(200, "GET", tt.path, "", "Accept", tableAccept+", application/json")
		if got := tableSummary(t, r.body); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

func TestPartialObjectMetadataList(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.must(200, "GET", "/api/v1/namespaces", "", "Accept", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
	l := decode[struct {
		Kind  string `json:"kind"`
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct{ Name string }
		} `json:"items"`
	}](t, r.body)
	got := l.Kind
	for _, i := range l.Items {
		got += " " + i.Kind + "/" + i.Metadata.Name
	}
	if want := "PartialObjectMetadataList PartialObjectMetadata/default PartialObjectMetadata/kube-node-lease PartialObjectMetadata/kube-public PartialObjectMetadata/kube-system"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
