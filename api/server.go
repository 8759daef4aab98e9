package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/streaming"
)

// Config wires the API server.
type Config struct {
	Registry *registry.Registry
	// Token is the bearer token every resource request must carry.
	Token string
	// Discovery serves /api, /apis, /api/v1, /apis/<g>[/<v>] and /openapi/...; Routes are its paths.
	Discovery http.Handler
	// Version is returned by /version.
	Version VersionInfo
	Logger  *slog.Logger
	Now     func() time.Time
	// Ready reports whether the node is ready to serve (for /readyz).
	Ready func() bool
	// Pods serves pods/log, pods/exec and pods/attach; without it they answer 503.
	Pods streaming.Pods
	// Streaming tunes exec and attach sessions (idle and stream creation timeouts).
	Streaming streaming.ServerConfig
	// Metrics writes the node's metrics in Prometheus' text format for /metrics (behind the
	// token, as kube-apiserver's); without it /metrics is not found.
	Metrics func(io.Writer)
}

// VersionInfo is what /version answers (kubectl version reads it).
type VersionInfo struct {
	GitVersion string `json:"gitVersion"`
	Major      string `json:"major"`
	Minor      string `json:"minor"`
	Platform   string `json:"platform"`
	GoVersion  string `json:"goVersion"`
}

// Server is the HTTP side of the API.
type Server struct {
	cfg Config
	reg *registry.Registry
	log *slog.Logger
	now func() time.Time
	// stop ends long-running requests (watches) when the server shuts down.
	stop context.Context
}

// New makes a Server; stop ends open watches when cancelled.
func New(stop context.Context, cfg Config) *Server {
	s := &Server{cfg: cfg, reg: cfg.Registry, log: cfg.Logger, now: cfg.Now, stop: stop}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Handler returns the root handler: health and version without credentials, everything else
// behind the bearer token.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/healthz", "/livez"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	}
	mux.HandleFunc("/readyz", s.readyz)
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.cfg.Version) })
	mux.Handle("/", s.authenticate(http.HandlerFunc(s.route)))
	return s.logRequests(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok"))
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/metrics" && s.cfg.Metrics != nil {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.cfg.Metrics(w)
		return
	}
	if isDiscoveryPath(p) {
		if s.cfg.Discovery == nil {
			writeError(w, s.log, apierrors.NewNotFound(schemaGR(""), p))
			return
		}
		s.cfg.Discovery.ServeHTTP(w, r)
		return
	}
	s.serveResource(w, r)
}

// isDiscoveryPath: /api, /apis, /api/v1, /apis/<g>, /apis/<g>/<v> and /openapi/...; anything
// deeper is a resource.
func isDiscoveryPath(p string) bool {
	if strings.HasPrefix(p, "/openapi/") {
		return true
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch parts[0] {
	case "api":
		return len(parts) <= 2
	case "apis":
		return len(parts) <= 3
	}
	return false
}

// logRequests logs each request at debug level: quiet by default, there when asked for.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		next.ServeHTTP(rec, r)
		s.log.Debug("request", "method", r.Method, "uri", r.URL.RequestURI(), "code", rec.code, "duration", time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

// Flush lets watches stream through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (upgrades for exec/attach).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
