package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// listLimit is how many items upstream shows in list-valued cells before
// summarising the rest as " + N more...".
const listLimit = 3

// age renders how long ago ts was, as kubectl users know it ("5m", "3d").
func age(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// microAge is age for the MicroTime fields of events.
func microAge(ts metav1.MicroTime, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// containerCells lays out container names and images on one line each.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// truncatedList joins the first listLimit items of a list whose full length is
// total, noting how many were left out; an empty list reads "<unset>".
func truncatedList(shown []string, total int) string {
	ret := strings.Join(shown, ",")
	if total > listLimit {
		return fmt.Sprintf("%s + %d more...", ret, total-listLimit)
	}
	if ret == "" {
		return "<unset>"
	}
	return ret
}

// orNone substitutes upstream's placeholder for an empty cell.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
