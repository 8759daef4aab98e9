package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/api/store"
)

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io"

// collect reads n events and renders them one per line.
func collect(t *testing.T, ch <-chan watchLine, n int) string {
	t.Helper()
	var out []string
	for range n {
		out = append(out, eventSummary(t, next(t, ch)))
	}
	return strings.Join(out, "\n")
}

// quiet fails if an event arrives within d.
func quiet(t *testing.T, ch <-chan watchLine, d time.Duration) {
	t.Helper()
	select {
	case l, ok := <-ch:
		if ok {
			t.Errorf("unexpected event %s %s", l.Type, l.Object)
		}
	case <-time.After(d):
	}
}

func TestWatchFromZero(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", cmPath, configMapJSON("a", "", "1"))
	e.must(201, "POST", cmPath, configMapJSON("b", "", "1"))
	ch := e.openWatch(cmPath + "?watch=true&resourceVersion=0")
	want := "ADDED a\nADDED b"
	if got := collect(t, ch, 2); got != want {
		t.Errorf("initial events:\n%s\nwant\n%s", got, want)
	}
	e.must(201, "POST", cmPath, configMapJSON("c", "", "1"))
	e.must(200, "PUT", cmPath+"/a", configMapJSON("a", "", "2"))
	e.must(200, "DELETE", cmPath+"/b", "")
	e.must(201, "POST", "/api/v1/namespaces/default/secrets", `{"metadata":{"name":"other-resource"}}`)
	e.must(201, "POST", "/api/v1/namespaces", `{"metadata":{"name":"elsewhere"}}`)
	e.must(201, "POST", "/api/v1/namespaces/elsewhere/configmaps", configMapJSON("other-namespace", "", "1"))
	e.must(201, "POST", cmPath, configMapJSON("d", "", "1"))
	want = "ADDED c\nMODIFIED a\nDELETED b\nADDED d"
	if got := collect(t, ch, 4); got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}
}

func TestWatchFromResourceVersion(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", cmPath, configMapJSON("a", "", "1"))
	rv := decode[struct {
		Metadata struct{ ResourceVersion string } `json:"metadata"`
	}](t, e.must(200, "GET", cmPath, "").body).Metadata.ResourceVersion
	e.must(200, "PUT", cmPath+"/a", configMapJSON("a", "", "2"))
	e.must(201, "POST", cmPath, configMapJSON("b", "", "1"))
	ch := e.openWatch(cmPath + "?watch=true&resourceVersion=" + rv)
	if got, want := collect(t, ch, 2), "MODIFIED a\nADDED b"; got != want {
		t.Errorf("events after %s:\n%s\nwant\n%s", rv, got, want)
	}
	quiet(t, ch, 100*time.Millisecond)
}

func TestWatchTooOld(t *testing.T) {
	e := newEnv(t, envOptions{store: store.Options{History: 2}})
	for i := range 3 {
		e.must(201, "POST", cmPath, configMapJSON(fmt.Sprint("c", i), "", "1"))
	}
	req := e.request("GET", cmPath+"?watch=true&resourceVersion=1", "")
	res, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body := readAll(t, res)
	want := `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (9)","reason":"Expired","code":410}}`
	if res.StatusCode != 200 || body != want {
		t.Errorf("got %d %s\nwant 200 %s", res.StatusCode, body, want)
	}
}

func TestWatchFieldSelectorTransitions(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", "/api/v1/namespaces/default/pods", podJSON("p1"))
	e.must(201, "POST", "/api/v1/namespaces/default/pods", podJSON("p2"))
	ch := e.openWatch("/api/v1/namespaces/default/pods?watch=true&fieldSelector=status.phase%3DRunning")
	phase := func(pod, phase string) {
		e.must(200, "PATCH", "/api/v1/namespaces/default/pods/"+pod+"/status",
			`{"status":{"phase":"`+phase+`"}}`, "Content-Type", mergePatch)
	}
	phase("p1", "Running")
	e.must(200, "PATCH", "/api/v1/namespaces/default/pods/p1", `{"metadata":{"labels":{"x":"y"}}}`, "Content-Type", mergePatch)
	phase("p2", "Failed")
	phase("p1", "Succeeded")
	if got, want := collect(t, ch, 3), "ADDED p1\nMODIFIED p1\nDELETED p1"; got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}
	quiet(t, ch, 100*time.Millisecond)
}

func TestWatchTable(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", cmPath, configMapJSON("a", "", "1"))
	ch := e.openWatch(cmPath+"?watch=true", "Accept", tableAccept)
	e.must(201, "POST", cmPath, configMapJSON("b", "", "1"))
	var got []string
	for range 2 {
		l := next(t, ch)
		tbl := decode[struct {
			Kind    string           `json:"kind"`
			Columns []map[string]any `json:"columnDefinitions"`
			Rows    []struct {
				Cells []any `json:"cells"`
			} `json:"rows"`
		}](t, string(l.Object))
		got = append(got, fmt.Sprintf("%s %s columns=%d cells=%v", l.Type, tbl.Kind, len(tbl.Columns), tbl.Rows[0].Cells))
	}
	want := "ADDED Table columns=3 cells=[a 1 5m]\nADDED Table columns=0 cells=[b 1 5m]"
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("table watch:\n%s\nwant\n%s", g, want)
	}
}

func TestWatchBookmarks(t *testing.T) {
	old := bookmarkInterval
	bookmarkInterval = 50 * time.Millisecond
	t.Cleanup(func() { bookmarkInterval = old })
	e := newEnv(t, envOptions{})
	e.must(201, "POST", cmPath, configMapJSON("a", "", "1"))
	with := e.openWatch(cmPath + "?watch=true&resourceVersion=0&allowWatchBookmarks=true")
	without := e.openWatch(cmPath + "?watch=true&resourceVersion=0")
	if got := collect(t, with, 1) + "|" + collect(t, without, 1); got != "ADDED a|ADDED a" {
		t.Fatalf("initial events %s", got)
	}
	l := next(t, with)
	if got, want := fmt.Sprintf("%s %s", l.Type, l.Object), `BOOKMARK {"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"8","creationTimestamp":null}}`; got != want {
		t.Errorf("bookmark: got %s, want %s", got, want)
	}
	quiet(t, without, 200*time.Millisecond)
}

func TestWatchSlowWatcherDoesNotBlockWriters(t *testing.T) {
	e := newEnv(t, envOptions{store: store.Options{WatchBuffer: 4}})
	e.must(201, "POST", cmPath, configMapJSON("big", "", "start"))
	conn, stream := stalledWatch(t, e, cmPath+"?watch=true&resourceVersion=0")
	defer conn.Close()
	big := strings.Repeat("x", 256<<10)
	codes := make(chan int, 100)
	go func() {
		defer close(codes)
		for i := range 100 {
			req := e.request("PUT", cmPath+"/big", configMapJSON("big", "", fmt.Sprint(i, big)))
			res, err := httpClient().Do(req)
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}
	}()
	timeout := time.After(20 * time.Second)
	for n := 0; n < 100; n++ {
		select {
		case code := <-codes:
			if code != 200 {
				t.Fatalf("write %d answered %d", n, code)
			}
		case <-timeout:
			t.Fatalf("writes stalled behind a watcher that does not read: %d of 100 done in 20s", n)
		}
	}
	// The watcher was cut off: its stream ends without the later events, and the client
	// resumes from the last resourceVersion it saw.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	events := 0
	for {
		line, err := stream.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d events: %v (the stream did not end)", events, err)
		}
		if strings.Contains(line, `"type":"MODIFIED"`) {
			events++
		}
	}
	if events >= 100 {
		t.Errorf("the stalled watcher got all %d events: it was never cut off", events)
	}
}

func TestWatchSendsHeadersAtOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Nothing to send: the headers must still arrive, or client-go's Watch() never returns.
	ch := e.openWatch("/api/v1/namespaces/default/secrets?watch=true")
	e.must(201, "POST", "/api/v1/namespaces/default/secrets", `{"metadata":{"name":"s"}}`)
	if got := collect(t, ch, 1); got != "ADDED s" {
		t.Errorf("got %s, want ADDED s", got)
	}
}

// stalledWatch opens a watch, reads its headers and first event, and then stops reading; the
// returned reader continues the stream's body.
func stalledWatch(t *testing.T, e *testEnv, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req := e.request("GET", path, "")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("watch: %v %v", res, err)
	}
	body := bufio.NewReader(res.Body)
	line, err := body.ReadString('\n')
	if err != nil || !strings.Contains(line, `"type":"ADDED"`) {
		t.Fatalf("first event %q %v", line, err)
	}
	return conn, body
}

// A watch on an item path follows that one object (kube-apiserver's legacy form of
// fieldSelector=metadata.name=X).
func TestWatchItemPath(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", cmPath, configMapJSON("a", "", "1"))
	e.must(201, "POST", cmPath, configMapJSON("b", "", "1"))
	ch := e.openWatch(cmPath + "/a?watch=true&resourceVersion=0")
	e.must(200, "PUT", cmPath+"/b", configMapJSON("b", "", "2"))
	e.must(200, "PUT", cmPath+"/a", configMapJSON("a", "", "2"))
	if got, want := collect(t, ch, 2), "ADDED a\nMODIFIED a"; got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}
	quiet(t, ch, 100*time.Millisecond)
}

// Bookmarks advance with the store even when the selector filters every event out, so that a
// resumed watch does not fall behind the history and get 410.
func TestWatchBookmarksAdvancePastFilteredEvents(t *testing.T) {
	old := bookmarkInterval
	bookmarkInterval = 50 * time.Millisecond
	t.Cleanup(func() { bookmarkInterval = old })
	e := newEnv(t, envOptions{})
	ch := e.openWatch(cmPath + "?watch=true&resourceVersion=0&allowWatchBookmarks=true&labelSelector=app%3Dnone")
	var rv string
	for i := range 3 {
		rv = decode[struct {
			Metadata struct{ ResourceVersion string } `json:"metadata"`
		}](t, e.must(201, "POST", cmPath, configMapJSON(fmt.Sprint("c", i), "", "1")).body).Metadata.ResourceVersion
	}
	eventually(t, "a bookmark at "+rv, func() bool {
		l := next(t, ch)
		var o struct {
			Metadata struct{ ResourceVersion string } `json:"metadata"`
		}
		looseDecode(string(l.Object), &o)
		return l.Type == "BOOKMARK" && o.Metadata.ResourceVersion == rv
	})
}

// An object that stops matching a selector is sent DELETED as it was when it matched (at the
// new resourceVersion), as kube-apiserver does.
func TestWatchSelectorDeletedCarriesOldObject(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", cmPath, configMapJSON("a", `"app":"web"`, "1"))
	ch := e.openWatch(cmPath + "?watch=true&resourceVersion=0&labelSelector=app%3Dweb")
	if got := collect(t, ch, 1); got != "ADDED a" {
		t.Fatalf("initial: %s", got)
	}
	r := e.must(200, "PATCH", cmPath+"/a", `{"metadata":{"labels":{"app":"db"}}}`, "Content-Type", mergePatch)
	newRV := decode[struct {
		Metadata struct{ ResourceVersion string } `json:"metadata"`
	}](t, r.body).Metadata.ResourceVersion
	l := next(t, ch)
	var o struct {
		Metadata struct {
			ResourceVersion string            `json:"resourceVersion"`
			Labels          map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	looseDecode(string(l.Object), &o)
	if got, want := fmt.Sprintf("%s %s %v", l.Type, o.Metadata.ResourceVersion, o.Metadata.Labels), "DELETED "+newRV+" map[app:web]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// timeoutSeconds=0 means the server's default, not "end now".
func TestWatchTimeoutZero(t *testing.T) {
	e := newEnv(t, envOptions{})
	ch := e.openWatch(cmPath + "?watch=true&timeoutSeconds=0")
	quiet(t, ch, 200*time.Millisecond)
	e.must(201, "POST", cmPath, configMapJSON("a", "", "1"))
	if got := collect(t, ch, 1); got != "ADDED a" {
		t.Errorf("got %s", got)
	}
}

// The streaming list of KEP-3157, as client-go's reflectors (CoreDNS's among them) ask for it:
// the current state as ADDED events, a bookmark marking their end at the list's
// resourceVersion, then changes.
func TestWatchSendInitialEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", cmPath, configMapJSON("a", "", "1"))
	e.must(201, "POST", cmPath, configMapJSON("b", "", "1"))
	for _, rv := range []string{"", "&resourceVersion=0", "&resourceVersion=1"} {
		ch := e.openWatch(cmPath + "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true" + rv)
		if got, want := collect(t, ch, 2), "ADDED a\nADDED b"; got != want {
			t.Errorf("rv %q: initial events:\n%s\nwant\n%s", rv, got, want)
		}
		l := next(t, ch)
		if got, want := fmt.Sprintf("%s %s", l.Type, l.Object), `BOOKMARK {"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"9","creationTimestamp":null,"annotations":{"k8s.io/initial-events-end":"true"}}}`; got != want {
			t.Errorf("rv %q: end of initial events: got %s, want %s", rv, got, want)
		}
	}
	// sendInitialEvents=false from "now": only what changes afterwards.
	ch := e.openWatch(cmPath + "?watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan")
	e.must(201, "POST", cmPath, configMapJSON("c", "", "1"))
	if got, want := collect(t, ch, 1), "ADDED c"; got != want {
		t.Errorf("sendInitialEvents=false: %s, want %s", got, want)
	}
}

func TestWatchListOptionsInvalid(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct{ query, message string }{
		{"sendInitialEvents=true&allowWatchBookmarks=true",
			`ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan`},
		{"sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
			`ListOptions.meta.k8s.io \"\" is invalid: allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true`},
		{"resourceVersionMatch=NotOlderThan",
			`ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided`},
	}
	for _, tc := range tests {
		r := e.must(422, "GET", cmPath+"?watch=true&"+tc.query, "")
		if !strings.Contains(r.body, `"message":"`+tc.message+`"`) {
			t.Errorf("%s: %s\nwant message %s", tc.query, r.body, tc.message)
		}
	}
}
