package api

import (
	"net/http"
	"testing"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t, envOptions{})
	const unauthorized = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`
	tests := []struct {
		name     string
		path     string
		auth     string // Authorization header; "-" sends none
		wantCode int
		wantBody string
	}{
		{"no token", "/api/v1/namespaces/default/configmaps", "-", 401, unauthorized},
		{"wrong token", "/api/v1/namespaces/default/configmaps", "Bearer nope", 401, unauthorized},
		{"basic auth", "/api/v1/namespaces", "Basic " + testToken, 401, unauthorized},
		{"discovery needs a token", "/api", "-", 401, unauthorized},
		{"healthz needs none", "/healthz", "-", 200, "ok"},
		{"readyz needs none", "/readyz", "-", 200, "ok"},
		{"version needs none", "/version", "-", 200, `{"gitVersion":"v1.32.11","major":"1","minor":"32","platform":"","goVersion":""}`},
		{"metrics need a token", "/metrics", "-", 401, unauthorized},
		{"metrics", "/metrics", "Bearer " + testToken, 200, "podnet_test_total 1"},
		{"right token", "/api/v1/namespaces/default/configmaps", "Bearer " + testToken, 200,
			`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := e.request(http.MethodGet, tt.path, "")
			req.Header.Del("Authorization")
			if tt.auth != "-" {
				req.Header.Set("Authorization", tt.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body := readAll(t, res)
			if res.StatusCode != tt.wantCode || body != tt.wantBody {
				t.Errorf("got %d %s\nwant %d %s", res.StatusCode, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}
