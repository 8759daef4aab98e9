package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var eventColumns = []metav1.TableColumnDefinition{
	column("Last Seen", corev1.Event{}.SwaggerDoc()["lastTimestamp"]),
	column("Type", corev1.Event{}.SwaggerDoc()["type"]),
	column("Reason", corev1.Event{}.SwaggerDoc()["reason"]),
	column("Object", corev1.Event{}.SwaggerDoc()["involvedObject"]),
	wide(column("Subobject", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"])),
	wide(column("Source", corev1.Event{}.SwaggerDoc()["source"])),
	column("Message", corev1.Event{}.SwaggerDoc()["message"]),
	wide(column("First Seen", corev1.Event{}.SwaggerDoc()["firstTimestamp"])),
	wide(column("Count", corev1.Event{}.SwaggerDoc()["count"])),
	wide(nameColumn()),
}

func eventCells(ev *corev1.Event, now time.Time) []any {
	first, last, count := eventTimes(ev, now)
	return []any{
		last,
		ev.Type,
		ev.Reason,
		eventObject(ev.InvolvedObject),
		ev.InvolvedObject.FieldPath,
		eventSource(ev),
		strings.TrimSpace(ev.Message),
		first,
		int64(count),
		ev.Name,
	}
}

// eventTimes reconciles the legacy timestamps with the events.k8s.io fields
// (eventTime, series) that newer reporters fill instead.
func eventTimes(ev *corev1.Event, now time.Time) (first, last string, count int32) {
	first = age(ev.FirstTimestamp, now)
	if ev.FirstTimestamp.IsZero() {
		first = microAge(ev.EventTime, now)
	}
	last = age(ev.LastTimestamp, now)
	if ev.LastTimestamp.IsZero() {
		last = first
	}
	count = ev.Count
	switch {
	case ev.Series != nil:
		last, count = microAge(ev.Series.LastObservedTime, now), ev.Series.Count
	case count == 0:
		// Singleton events of the new API carry no count.
		count = 1
	}
	return first, last, count
}

// eventObject renders the involved object as "kind/name", as kubectl does.
func eventObject(ref corev1.ObjectReference) string {
	kind := strings.ToLower(ref.Kind)
	if ref.Name == "" {
		return kind
	}
	return fmt.Sprintf("%s/%s", kind, ref.Name)
}

// eventSource prefers the legacy source and falls back to the reporting
// fields, rendering "component, host".
func eventSource(ev *corev1.Event) string {
	component := firstNonEmpty(ev.Source.Component, ev.ReportingController)
	host := firstNonEmpty(ev.Source.Host, ev.ReportingInstance)
	if host == "" {
		return component
	}
	return component + ", " + host
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
