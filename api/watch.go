package api

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// bookmarkInterval is how often a quiet watch that allows bookmarks gets one.
var bookmarkInterval = 30 * time.Second

// watchEvent is one line of a watch stream.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// watchStream writes events as newline-delimited JSON, flushing each one.
type watchStream struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	info    *resource.Info
	enc     *json.Encoder
	as      accept
	columns bool // a Table stream sends column definitions once, with its first event
	lastRV  string
}

func (ws *watchStream) send(typ watch.EventType, obj runtime.Object) error {
	var out any = obj
	switch {
	case typ == watch.Bookmark || typ == watch.Error:
	case ws.as == acceptTable:
		t, err := ws.s.table(ws.r, ws.info, []runtime.Object{obj})
		if err != nil {
			return err
		}
		if ws.columns {
			t.ColumnDefinitions = nil
		}
		ws.columns = true
		out = t
	case ws.as == acceptMetadata:
		out = partialMetadata(obj)
	}
	if err := ws.enc.Encode(watchEvent{Type: typ, Object: out}); err != nil {
		return err
	}
	if f, ok := ws.w.(http.Flusher); ok {
		f.Flush()
	}
	if typ != watch.Error {
		ws.lastRV = accessor(obj).GetResourceVersion()
	}
	return nil
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	opts, err := listOptions(r, ri.info)
	if err != nil {
		return err
	}
	if ri.name != "" {
		opts.Fields = fields.AndSelectors(opts.Fields, fields.OneTermEqualSelector("metadata.name", ri.name))
	}
	q := r.URL.Query()
	timeout, err := watchTimeout(q.Get("timeoutSeconds"))
	if err != nil {
		return err
	}
	mode, err := watchStartOf(q)
	if err != nil {
		return err
	}
	var initial []runtime.Object
	var from uint64
	if mode.rv != "" && mode.rv != "0" {
		if from, err = strconv.ParseUint(mode.rv, 10, 64); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", mode.rv))
		}
	}
	if mode.initialEvents || mode.fromNow {
		// The current state (never older than any resourceVersion asked for: the store lists its
		// latest), then changes after it.
		list, rv, err := s.reg.List(ri.info, ri.namespace, opts)
		if err != nil {
			return err
		}
		if mode.initialEvents {
			initial = list
		}
		from = rv
	}
	watcher, watchErr := s.reg.Store().Watch(ri.info, ri.namespace, from)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	// Headers go out at once: clients wait for them before they report the watch as started.
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	ws := &watchStream{s: s, w: w, r: r, info: ri.info, enc: json.NewEncoder(w), as: acceptOf(r), lastRV: strconv.FormatUint(from, 10)}
	if watchErr != nil {
		// As kube-apiserver: the stream opens, and its one event is the error (410 Gone).
		ws.send(watch.Error, toStatus(watchErr))
		return nil
	}
	defer watcher.Stop()
	for _, obj := range initial {
		if err := ws.send(watch.Added, obj); err != nil {
			return nil
		}
	}
	// The initial events bring the client up to the list's resourceVersion, newer than any
	// one object's.
	ws.lastRV = strconv.FormatUint(from, 10)
	if mode.endBookmark {
		end := bookmark(ws.info, ws.lastRV)
		accessor(end).SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		if err := ws.send(watch.Bookmark, end); err != nil {
			return nil
		}
	}
	s.follow(ws, watcher, opts, timeout, q.Get("allowWatchBookmarks") == "true")
	return nil
}

// watchStart is where a watch begins, from its query parameters.
type watchStart struct {
	rv string
	// initialEvents: the current state first, as ADDED events.
	initialEvents bool
	// endBookmark: a BOOKMARK annotated k8s.io/initial-events-end after them (sendInitialEvents).
	endBookmark bool
	// fromNow: no initial events, changes after the current state.
	fromNow bool
}

// watchStartOf applies kube-apiserver's rules for resourceVersion, resourceVersionMatch and
// sendInitialEvents on a watch (the streaming list of KEP-3157, which client-go's reflectors
// use by default since 1.35), with its validation messages.
func watchStartOf(q url.Values) (watchStart, error) {
	st := watchStart{rv: q.Get("resourceVersion")}
	match := q.Get("resourceVersionMatch")
	send, sendSet := q.Get("sendInitialEvents"), q.Has("sendInitialEvents")
	var errs field.ErrorList
	if sendSet && send != "true" && send != "false" {
		return st, apierrors.NewBadRequest(fmt.Sprintf("invalid sendInitialEvents %q", send))
	}
	switch {
	case sendSet:
		if match != string(metav1.ResourceVersionMatchNotOlderThan) {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
		}
		if send == "true" && q.Get("allowWatchBookmarks") != "true" {
			errs = append(errs, field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks to true"))
		}
	case match != "":
		errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
	}
	if len(errs) > 0 {
		return st, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	switch {
	case send == "true":
		st.initialEvents, st.endBookmark = true, true
	case sendSet && (st.rv == "" || st.rv == "0"):
		st.fromNow = true
	case !sendSet && (st.rv == "" || st.rv == "0"):
		// The legacy start: current state as ADDED events, no end marker.
		st.initialEvents = true
	}
	return st, nil
}

// follow streams the watcher's events until the client goes, the timeout passes, the server
// stops, or the store cuts the watcher off (then the client resumes from its last event).
func (s *Server) follow(ws *watchStream, watcher *store.Watcher, opts registry.ListOptions, timeout time.Duration, bookmarks bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(bookmarkInterval)
	defer tick.Stop()
	for {
		select {
		case <-ws.r.Context().Done():
			return
		case <-s.stop.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
			if bookmarks {
				if err := ws.send(watch.Bookmark, bookmark(ws.info, ws.lastRV)); err != nil {
					return
				}
			}
		case e, ok := <-watcher.Events():
			if !ok {
				return
			}
			typ, obj := selectEvent(ws.info, e, opts)
			if typ != "" {
				if err := ws.send(typ, obj); err != nil {
					return
				}
			}
			// Filtered out or not, the client is now up to date to here: bookmarks say so, and
			// a resumed watch need not replay what the selector skipped.
			ws.lastRV = strconv.FormatUint(e.RV, 10)
		}
	}
}

// selectEvent turns a store event into what a watcher with a selector sees: an object that
// starts matching is ADDED, one that stops matching is DELETED.
func selectEvent(info *resource.Info, e *store.Event, opts registry.ListOptions) (watch.EventType, runtime.Object) {
	now := opts.Matches(info, e.Object)
	before := e.Prev != nil && opts.Matches(info, e.Prev)
	switch e.Type {
	case watch.Added:
		if now {
			return watch.Added, e.Object
		}
	case watch.Modified:
		switch {
		case now && before:
			return watch.Modified, e.Object
		case now:
			return watch.Added, e.Object
		case before:
			// As kube-apiserver: the object as it was when it still matched, at the new version.
			gone := e.Prev.DeepCopyObject()
			accessor(gone).SetResourceVersion(strconv.FormatUint(e.RV, 10))
			return watch.Deleted, gone
		}
	case watch.Deleted:
		if now {
			return watch.Deleted, e.Object
		}
	}
	return "", nil
}

// bookmark is an object of the watched kind carrying only a resourceVersion.
func bookmark(info *resource.Info, rv string) runtime.Object {
	obj := info.New()
	obj.GetObjectKind().SetGroupVersionKind(info.GVK())
	accessor(obj).SetResourceVersion(rv)
	return obj
}

// watchTimeout is timeoutSeconds, or like kube-apiserver a random 30-60 minutes, so that
// clients reconnect at spread-out times.
func watchTimeout(v string) (time.Duration, error) {
	n, err := int64(0), error(nil)
	if v != "" {
		if n, err = strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", v))
		}
	}
	if n == 0 { // unset or 0: the server's default, as upstream
		return 30*time.Minute + time.Duration(rand.Int64N(int64(30*time.Minute))), nil
	}
	return time.Duration(n) * time.Second, nil
}
