package api

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

func TestPodLogOptions(t *testing.T) {
	fake := newFakePods(t)
	fake.logs = map[string][]string{"main": {"l1", "l2", "l3", "l4"}}
	e := newStreamEnv(t, fake)
	e.addPod("one", specOf("main"), running("main"))
	const call = "default/one container=main follow=false previous=false timestamps=false"
	tests := []struct {
		query    string
		wantCode int
		wantCall string // what the runtime was asked, "" when it must not be asked
		wantBody string
	}{
		{"", 200, call, "l1\nl2\nl3\nl4"},
		{"?container=main&tailLines=2", 200, call + " tailLines=2", "l3\nl4"},
		{"?timestamps=true&tailLines=1", 200, "default/one container=main follow=false previous=false timestamps=true tailLines=1",
			"2025-03-01T12:00:00.000000000Z l4"},
		{"?limitBytes=4", 200, call + " limitBytes=4", "l1\nl"},
		{"?sinceSeconds=10", 200, call + " sinceSeconds=10", "l1\nl2\nl3\nl4"},
		{"?sinceTime=2025-03-01T11:00:00Z&timestamps=0", 200, call + " sinceTime=2025-03-01T11:00:00Z", "l1\nl2\nl3\nl4"},
		{"?tailLines=-1", 422, "",
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"PodLogOptions \"one\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0","reason":"Invalid","details":{"name":"one","kind":"PodLogOptions","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: -1: must be greater than or equal to 0","field":"tailLines"}]},"code":422}`},
		{"?limitBytes=0&sinceSeconds=0", 422, "",
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"PodLogOptions \"one\" is invalid: [limitBytes: Invalid value: 0: must be greater than 0, sinceSeconds: Invalid value: 0: must be greater than 0]","reason":"Invalid","details":{"name":"one","kind":"PodLogOptions","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 0: must be greater than 0","field":"limitBytes"},{"reason":"FieldValueInvalid","message":"Invalid value: 0: must be greater than 0","field":"sinceSeconds"}]},"code":422}`},
		{"?sinceSeconds=5&sinceTime=2025-03-01T11:00:00Z", 422, "",
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"PodLogOptions \"one\" is invalid: []: Forbidden: at most one of ` + "`sinceTime` or `sinceSeconds`" + ` may be specified","reason":"Invalid","details":{"name":"one","kind":"PodLogOptions","causes":[{"reason":"FieldValueForbidden","message":"Forbidden: at most one of ` + "`sinceTime` or `sinceSeconds`" + ` may be specified","field":"[]"}]},"code":422}`},
		{"?tailLines=ten", 400, "",
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"strconv.ParseInt: parsing \"ten\": invalid syntax","reason":"BadRequest","code":400}`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			before, _, _ := fake.snapshot()
			r := e.do("GET", "/api/v1/namespaces/default/pods/one/log"+tt.query, "")
			after, _, _ := fake.snapshot()
			var gotCall string
			if len(after) > len(before) {
				gotCall = after[len(after)-1]
			}
			if r.code != tt.wantCode || r.body != tt.wantBody || gotCall != tt.wantCall {
				t.Errorf("got %d %q (runtime asked %q)\nwant %d %q (runtime asked %q)", r.code, r.body, gotCall, tt.wantCode, tt.wantBody, tt.wantCall)
			}
			if tt.wantCode == 200 && r.header.Get("Content-Type") != "text/plain" {
				t.Errorf("Content-Type = %q, want text/plain", r.header.Get("Content-Type"))
			}
		})
	}
}

func TestPodStreamRefusals(t *testing.T) {
	fake := newFakePods(t)
	e := newStreamEnv(t, fake)
	e.addPod("one", specOf("main"), running("main"))
	e.addPod("two", `{"nodeName":"node1","initContainers":[{"name":"setup","image":"busybox"}],"containers":[{"name":"a","image":"busybox"},{"name":"b","image":"busybox"}]}`,
		running("a", "b"))
	e.addPod("pending", `{"containers":[{"name":"main","image":"busybox"}]}`, "")
	waiting := func(reason string) string {
		return `{"phase":"Pending","containerStatuses":[{"name":"main","ready":false,"restartCount":0,"image":"busybox","imageID":"","state":{"waiting":{"reason":"` + reason + `"}}}]}`
	}
	e.addPod("creating", specOf("main"), waiting("ContainerCreating"))
	e.addPod("pulling", specOf("main"), waiting("ErrImagePull"))
	e.addPod("backoff", specOf("main"), waiting("ImagePullBackOff"))
	e.addPod("fresh", specOf("main"), "")

	status := func(code int, reason, msg string, details string) string {
		return fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,%s"code":%d}`, msg, reason, details, code)
	}
	badRequest := func(msg string) string { return status(400, "BadRequest", msg, "") }
	spdy := []string{"Connection", "Upgrade", "Upgrade", "SPDY/3.1", "X-Stream-Protocol-Version", "v4.channel.k8s.io"}
	const pods = "/api/v1/namespaces/default/pods/"
	tests := []struct {
		name, method, path string
		headers            []string
		wantCode           int
		wantBody           string
	}{
		{"log of a missing pod", "GET", pods + "nope/log", nil, 404,
			status(404, "NotFound", `pods "nope" not found`, `"details":{"name":"nope","kind":"pods"},`)},
		{"log without a container of a pod with two", "GET", pods + "two/log", nil, 400,
			badRequest("a container name must be specified for pod two, choose one of: [setup a b]")},
		{"log of an unknown container", "GET", pods + "two/log?container=c", nil, 400, badRequest("container c is not valid for pod two")},
		{"log of an init container without status", "GET", pods + "two/log?container=setup", nil, 400,
			badRequest(`container "setup" in pod "two" is not available`)},
		{"log of an unscheduled pod is empty", "GET", pods + "pending/log", nil, 200, ""},
		{"log of a container being created", "GET", pods + "creating/log", nil, 400,
			badRequest(`container "main" in pod "creating" is waiting to start: ContainerCreating`)},
		{"log of a container whose image fails", "GET", pods + "pulling/log", nil, 400,
			badRequest(`container "main" in pod "pulling" is waiting to start: image can't be pulled`)},
		{"log of a container in pull backoff", "GET", pods + "backoff/log", nil, 400,
			badRequest(`container "main" in pod "backoff" is waiting to start: trying and failing to pull image`)},
		{"previous log without a previous container", "GET", pods + "one/log?previous=true", nil, 400,
			badRequest(`previous terminated container "main" in pod "one" not found`)},
		{"log is read only", "PUT", pods + "one/log", nil, 405,
			status(405, "MethodNotAllowed", `update is not supported on resources of kind "pods/log"`, `"details":{"kind":"pods/log"},`)},
		{"exec of a missing pod", "POST", pods + "nope/exec?command=ls&stdout=true", spdy, 404,
			status(404, "NotFound", `pods "nope" not found`, `"details":{"name":"nope","kind":"pods"},`)},
		{"exec without a container of a pod with two", "POST", pods + "two/exec?command=ls&stdout=true", spdy, 400,
			badRequest("a container name must be specified for pod two, choose one of: [setup a b]")},
		{"exec in an unscheduled pod", "GET", pods + "pending/exec?command=ls&stdout=true", spdy, 400,
			badRequest("pod pending does not have a host assigned")},
		{"exec without upgrade", "POST", pods + "one/exec?command=ls&stdout=true", nil, 400, badRequest("Upgrade request required")},
		{"exec with no stream", "POST", pods + "one/exec?command=ls", spdy, 400, "you must specify at least 1 of stdin, stdout, stderr"},
		{"exec with tty only asking stderr", "POST", pods + "one/exec?command=ls&stderr=true&tty=true", spdy, 400,
			"you must specify at least 1 of stdin, stdout, stderr"},
		{"exec in a container being created", "POST", pods + "creating/exec?command=ls&stdout=true", spdy, 500, `container not found ("main")`},
		{"attach to a container without status", "POST", pods + "fresh/attach?stdout=true", spdy, 500, `container not found ("main")`},
		{"exec without a protocol version", "POST", pods + "one/exec?command=ls&stdout=true", spdy[:4], 400,
			"unable to upgrade: X-Stream-Protocol-Version is required"},
		{"exec with an unknown protocol version", "POST", pods + "one/exec?command=ls&stdout=true",
			[]string{"Connection", "Upgrade", "Upgrade", "SPDY/3.1", "X-Stream-Protocol-Version", "v9.channel.k8s.io"}, 403,
			"unable to upgrade: unable to negotiate protocol: client supports [v9.channel.k8s.io], server accepts [v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, "", tt.headers...)
			if r.code != tt.wantCode || r.body != tt.wantBody {
				t.Errorf("got %d %s\nwant %d %s", r.code, r.body, tt.wantCode, tt.wantBody)
			}
		})
	}
	if _, calls, _ := fake.snapshot(); len(calls) != 0 {
		t.Errorf("the runtime was asked %q; every request above must be refused before it", calls)
	}
}

func TestPodStreamWithoutRuntime(t *testing.T) {
	e := newStreamEnv(t, nil)
	e.addPod("one", specOf("main"), running("main"))
	r := e.do("GET", "/api/v1/namespaces/default/pods/one/log", "")
	want := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods/log is not available: no container runtime","reason":"ServiceUnavailable","code":503}`
	if r.code != 503 || r.body != want {
		t.Errorf("got %d %s\nwant 503 %s", r.code, r.body, want)
	}
}

// TestExecProtocols runs sessions through client-go's executors over each protocol a client
// may choose, checking the stream split, stdin and the exit code carried on the error channel.
func TestExecProtocols(t *testing.T) {
	fake := newFakePods(t)
	e := newStreamEnv(t, fake)
	e.addPod("one", specOf("main"), running("main"))
	cfg := &rest.Config{Host: e.url, BearerToken: testToken}
	cfg.TLSClientConfig.CAData = e.ca
	protocols := map[string]func(method, url string) (remotecommand.Executor, error){
		"websocket v5": func(_, u string) (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutor(cfg, "GET", u)
		},
		"websocket v4": func(_, u string) (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u, "v4.channel.k8s.io")
		},
		"spdy": func(_, u string) (remotecommand.Executor, error) {
			return remotecommand.NewSPDYExecutor(cfg, "POST", mustParse(t, u))
		},
	}
	q := func(cmd []string, streams ...string) string {
		v := url.Values{"command": cmd}
		for _, s := range streams {
			v.Set(s, "true")
		}
		return v.Encode()
	}
	tests := []struct {
		name, query, stdin          string
		wantOut, wantErr, wantError string
	}{
		{"split output and exit code", q([]string{"sh", "-c", "echo out; echo err >&2; exit 3"}, "stdout", "stderr"), "",
			"out\n", "err\n", "command terminated with exit code 3"},
		// Only v5 and SPDY can tell the end of stdin: websocket v4 has no half-close.
		{"stdin to its end", q([]string{"tr", "a-z", "A-Z"}, "stdin", "stdout"), "hello\nworld\n", "HELLO\nWORLD\n", "", ""},
		{"command that cannot start", q([]string{"/nonexistent"}, "stdout"), "", "", "",
			`Internal error occurred: error executing command in container: fork/exec /nonexistent: no such file or directory`},
	}
	for proto, newExec := range protocols {
		for _, tt := range tests {
			if proto == "websocket v4" && tt.stdin != "" {
				continue
			}
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				ex, err := newExec("", e.url+"/api/v1/namespaces/default/pods/one/exec?"+tt.query)
				if err != nil {
					t.Fatal(err)
				}
				var out, errOut bytes.Buffer
				opts := remotecommand.StreamOptions{Stdout: &out}
				if strings.Contains(tt.query, "stderr=") {
					opts.Stderr = &errOut
				}
				if tt.stdin != "" {
					opts.Stdin = strings.NewReader(tt.stdin)
				}
				err = ex.StreamWithContext(context.Background(), opts)
				gotErr := ""
				if err != nil {
					gotErr = err.Error()
				}
				if out.String() != tt.wantOut || errOut.String() != tt.wantErr || gotErr != tt.wantError {
					t.Errorf("got stdout %q stderr %q error %q\nwant stdout %q stderr %q error %q",
						out.String(), errOut.String(), gotErr, tt.wantOut, tt.wantErr, tt.wantError)
				}
			})
		}
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
