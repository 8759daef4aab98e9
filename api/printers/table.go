package printers

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// rowFunc renders one object. The server always renders every column, wide
// ones included, exactly as kube-apiserver does: kubectl hides priority-1
// columns itself unless asked for -o wide.
type rowFunc func(obj runtime.Object, now time.Time) (metav1.TableRow, error)

type kindPrinter struct {
	columns []metav1.TableColumnDefinition
	row     rowFunc
}

var kindPrinters = map[schema.GroupKind]kindPrinter{
	{Kind: "Namespace"}: {namespaceColumns, cellsOf(namespaceCells)},
	{Kind: "Pod"}:       {podColumns, rowOf(podRow)},
	{Kind: "Service"}:   {serviceColumns, cellsOf(serviceCells)},
	{Kind: "Endpoints"}: {endpointsColumns, cellsOf(endpointsCells)},
	{Kind: "Event"}:     {eventColumns, cellsOf(eventCells)},
	{Kind: "Secret"}:    {secretColumns, cellsOf(secretCells)},
	{Kind: "ConfigMap"}: {configMapColumns, cellsOf(configMapCells)},
	{Kind: "Node"}:      {nodeColumns, cellsOf(nodeCells)},
	{Group: "discovery.k8s.io", Kind: "EndpointSlice"}: {endpointSliceColumns, cellsOf(endpointSliceCells)},
	{Group: "apps", Kind: "Deployment"}:                {deploymentColumns, cellsOf(deploymentCells)},
	{Group: "apps", Kind: "ReplicaSet"}:                {replicaSetColumns, cellsOf(replicaSetCells)},
	{Group: "networking.k8s.io", Kind: "Ingress"}:      {ingressColumns, cellsOf(ingressCells)},
	{Group: "networking.k8s.io", Kind: "IngressClass"}: {ingressClassColumns, cellsOf(ingressClassCells)},
}

// Table returns the table for objs, which are all of kind gk (objs may be empty: columns still
// returned). now is passed in so tests are deterministic. Rows have Cells set and Object left empty:
// the API layer fills Object (PartialObjectMetadata or the full object) as the request asks.
func Table(gk schema.GroupKind, objs []runtime.Object, now time.Time) (*metav1.Table, error) {
	p, ok := kindPrinters[gk]
	if !ok {
		p = kindPrinter{columns: defaultColumns, row: defaultRow}
	}
	rows := make([]metav1.TableRow, 0, len(objs))
	for i, obj := range objs {
		row, err := p.row(obj, now)
		if err != nil {
			return nil, fmt.Errorf("printing %s item %d: %w", gk.String(), i, err)
		}
		rows = append(rows, row)
	}
	return &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"},
		ColumnDefinitions: slices.Clone(p.columns),
		Rows:              rows,
	}, nil
}

// cellsOf adapts a typed cell renderer to rowFunc, rejecting objects of the
// wrong Go type instead of panicking on a caller's mistake.
func cellsOf[T runtime.Object](cells func(T, time.Time) []any) rowFunc {
	return rowOf(func(obj T, now time.Time) metav1.TableRow {
		return metav1.TableRow{Cells: cells(obj, now)}
	})
}

// rowOf is cellsOf for renderers that also set row conditions.
func rowOf[T runtime.Object](render func(T, time.Time) metav1.TableRow) rowFunc {
	return func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
		typed, ok := obj.(T)
		if !ok {
			var want T
			return metav1.TableRow{}, fmt.Errorf("expected %T, got %T", want, obj)
		}
		return render(typed, now), nil
	}
}
