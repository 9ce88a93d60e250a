package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// Handler returns the whole HTTP surface of the server (see the package
// documentation).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	opts := []connect.HandlerOption{
		connect.WithInterceptors(s.interceptor()),
		connect.WithReadMaxBytes(s.maxRequestBytes()),
		// Responses are keys, ids and ciphertext: compressing them costs
		// CPU (it was a third of the send path) and saves nothing.
		connect.WithCompressMinBytes(64 << 10),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
			s.log.Error("panic in handler", "procedure", spec.Procedure, "panic", p)
			return connect.NewError(connect.CodeInternal, nil)
		}),
	}
	mux.Handle(wardv1connect.NewAccountServiceHandler(accountHandler{s}, opts...))
	mux.Handle(wardv1connect.NewKeyServiceHandler(keyHandler{s}, opts...))
	mux.Handle(wardv1connect.NewMessageServiceHandler(messageHandler{s}, opts...))
	mux.HandleFunc("GET /v1/stream", s.serveStream)
	mux.HandleFunc("POST /v1/blobs", s.createBlob)
	mux.HandleFunc("PUT /v1/blobs/{id}", s.uploadBlob)
	mux.HandleFunc("GET /v1/blobs/{id}", s.downloadBlob)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return readDeadlines(mux)
}

// Read deadlines per kind of request, so that a client trickling a body
// cannot hold a request open forever. The stream sets its own deadlines
// once upgraded.
const (
	requestReadTimeout = 30 * time.Second
	blobReadTimeout    = 30 * time.Minute
)

func readDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := requestReadTimeout
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/blobs/") {
			d = blobReadTimeout
		}
		if r.URL.Path != "/v1/stream" {
			// Not every ResponseWriter supports deadlines (httptest
			// recorders); then there is nothing to do.
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

// readyz answers 200 when the store answers a read within two seconds and
// the server is not shutting down.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, _, err := s.st.Secret(ctx, secretAuthKey); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ready\n"))
}

// writeHTTPError answers a plain HTTP endpoint with the error's status and
// a JSON body {"code": "...", "message": "..."} using the Connect code names.
func writeHTTPError(w http.ResponseWriter, err error) {
	e := asError(err)
	status := httpStatus[e.Code]
	if e.Code == CodeExhausted && e.Msg == errTooLarge.Msg {
		status = http.StatusRequestEntityTooLarge
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"code": e.Code.wireName(), "message": e.Msg})
}
