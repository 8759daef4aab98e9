package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/discovery"
	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/services/allocator"
)

const testToken = "s3cret-token"

// created is the pinned clock of every test server: objects are created at this instant and
// Table ages are computed five minutes later.
var created = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// envOptions tunes a test server.
type envOptions struct {
	store store.Options
	// controllers runs the namespace lifecycle controller and the garbage collector.
	controllers bool
}

// testEnv is a real API server over a real store, registry, discovery and Service allocator.
type testEnv struct {
	t     *testing.T
	url   string
	reg   *registry.Registry
	store *store.Store
	alloc *allocator.Allocator
}

func newEnv(t *testing.T, opts envOptions) *testEnv {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), opts.store)
	if err != nil {
		t.Fatal(err)
	}
	a, err := allocator.New(allocator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return created }
	reg := registry.New(registry.Config{
		Store: st,
		Hooks: map[schema.GroupVersionResource]registry.Hook{resource.Services.GVR: allocator.Admission{A: a}},
		Now:   now,
	})
	disc, err := discovery.NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := New(ctx, Config{Registry: reg, Token: testToken, Discovery: disc,
		Version: VersionInfo{GitVersion: "v1.32.11", Major: "1", Minor: "32"},
		Now:     func() time.Time { return created.Add(5 * time.Minute) },
		Metrics: func(w io.Writer) { io.WriteString(w, "podnet_test_total 1\n") }})
	hs := httptest.NewServer(srv.Handler())
	done := make(chan struct{})
	if opts.controllers {
		go func() { defer close(done); reg.RunControllers(ctx, 100*time.Millisecond) }()
	} else {
		close(done)
	}
	t.Cleanup(func() {
		cancel()
		hs.CloseClientConnections()
		hs.Close()
		<-done
		st.Close()
	})
	if err := Bootstrap(ctx, reg, BootstrapConfig{ServiceIP: netip.MustParseAddr("10.96.0.1"),
		EndpointIP: netip.MustParseAddr("192.0.2.10"), EndpointPort: 6443}); err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, url: hs.URL, reg: reg, store: st, alloc: a}
}

// response is what a request got back.
type response struct {
	code   int
	header http.Header
	body   string
}

// do sends an authenticated request; headers are name, value pairs. A body defaults to JSON.
func (e *testEnv) do(method, path, body string, headers ...string) response {
	e.t.Helper()
	req := e.request(method, path, body, headers...)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{code: res.StatusCode, header: res.Header, body: strings.TrimSuffix(string(data), "\n")}
}

func (e *testEnv) request(method, path, body string, headers ...string) *http.Request {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// must sends a request and fails the test unless it gets code.
func (e *testEnv) must(code int, method, path, body string, headers ...string) response {
	e.t.Helper()
	r := e.do(method, path, body, headers...)
	if r.code != code {
		e.t.Fatalf("%s %s: got %d, want %d: %s", method, path, r.code, code, r.body)
	}
	return r
}

// decode unmarshals a response body into a T.
func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, body)
	}
	return v
}

// watchLine is one event of a watch stream, its object kept raw.
type watchLine struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// openWatch starts a watch request and returns a channel of its events; the channel closes
// when the stream ends. A response other than 200 arrives as one event of type "HTTP <code>".
// Like client-go, it expects the response headers at once, before any event: a watch that
// holds them back leaves clients hanging in Watch() (reported as an error, after which the
// events are still checked).
func (e *testEnv) openWatch(path string, headers ...string) <-chan watchLine {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req := e.request(http.MethodGet, path, "", headers...).WithContext(ctx)
	ch := make(chan watchLine, 100)
	gotHeaders := make(chan struct{})
	done := make(chan struct{})
	e.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer close(ch)
		res, err := http.DefaultClient.Do(req)
		close(gotHeaders)
		if err != nil {
			return
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			ch <- watchLine{Type: fmt.Sprintf("HTTP %d", res.StatusCode)}
			return
		}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l watchLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				ch <- l
			}
		}
	}()
	select {
	case <-gotHeaders:
	case <-time.After(2 * time.Second):
		e.t.Errorf("watch %s: no response headers within 2s; kube-apiserver flushes them as the watch starts", path)
	}
	return ch
}

// next waits for the next event of a watch.
func next(t *testing.T, ch <-chan watchLine) watchLine {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatal("watch stream ended")
		}
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watchLine{}
}

// eventSummary renders a watch event as "TYPE name": the object's name, or its kind when it
// has none (bookmarks, errors).
func eventSummary(t *testing.T, l watchLine) string {
	t.Helper()
	var o struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Rows []struct {
			Object struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"object"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(l.Object, &o); err != nil {
		t.Fatalf("decode event object: %v: %s", err, l.Object)
	}
	switch {
	case o.Metadata.Name != "":
		return l.Type + " " + o.Metadata.Name
	case len(o.Rows) == 1:
		return l.Type + " " + o.Rows[0].Object.Metadata.Name
	}
	return l.Type + " " + o.Kind
}

var uidPattern = regexp.MustCompile(`"uid":"[0-9a-f-]{36}"`)

// scrubUIDs replaces generated UIDs so a response can be compared as literal text.
func scrubUIDs(s string) string { return uidPattern.ReplaceAllString(s, `"uid":"UID"`) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(data), "\n")
}

// looseDecode unmarshals a body for a summary; a body that is not the expected JSON shows up as
// a mismatch in the summary.
func looseDecode(body string, v any) { _ = json.Unmarshal([]byte(body), v) }

// canceled is a context that has already ended: RunControllers with it runs one pass.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
