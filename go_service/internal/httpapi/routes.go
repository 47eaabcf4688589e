package httpapi

import (
	"net/http"
	"time"

	"google.golang.org/grpc/codes"

	"servebench/go_service/internal/clip"
	"servebench/go_service/internal/metrics"
)

// RouteFunc serves one request and returns the gRPC code it answered with.
type RouteFunc func(w http.ResponseWriter, r *http.Request) codes.Code

// ErrorWriter answers an error in an adapter's body shape ({"code", "message"} here, V2's
// {"error"}) and returns code.
type ErrorWriter func(w http.ResponseWriter, httpStatus int, code codes.Code, message string) codes.Code

// Routes are the route rules every HTTP adapter on the server shares (predict.v1's, V2's): a
// route's requests counted in the metrics under its RPC, one method per route (GET also answers
// HEAD; another method is 405 UNIMPLEMENTED with Allow), 404 NOT_FOUND for a path that is no route,
// each error written in the adapter's shape.
type Routes struct {
	Rec      metrics.Recorder
	WriteErr ErrorWriter
}

// Counted records the request in the metrics under the route's RPC name. A request answered
// CANCELLED (its client went away while it waited: nothing was written) is aborted, so net/http
// closes the connection without an answer (http.ErrAbortHandler is not logged).
func (rt Routes) Counted(m metrics.Method, next RouteFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := next(w, r)
		rt.Rec.Request(metrics.HTTP, m, code, time.Since(start))
		if code == codes.Canceled {
			panic(http.ErrAbortHandler)
		}
	})
}

// Uncounted serves a route the metrics do not count (health, metadata of the server).
func Uncounted(next RouteFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next(w, r) })
}

// Only answers 405 (code UNIMPLEMENTED, with an Allow header) to any method but the given one;
// GET routes also answer HEAD.
func (rt Routes) Only(method string, next RouteFunc) RouteFunc {
	allowed := method
	if method == http.MethodGet {
		allowed = "GET, HEAD"
	}
	return func(w http.ResponseWriter, r *http.Request) codes.Code {
		if r.Method != method && (method != http.MethodGet || r.Method != http.MethodHead) {
			w.Header().Set("Allow", allowed)
			return rt.WriteErr(w, http.StatusMethodNotAllowed, codes.Unimplemented,
				"method "+clip.Quote(r.Method)+" not allowed on "+clip.Quote(r.URL.Path)+"; use "+method)
		}
		return next(w, r)
	}
}

// NotFound answers a path that is no route: 404 NOT_FOUND.
func (rt Routes) NotFound(w http.ResponseWriter, r *http.Request) codes.Code {
	return rt.WriteErr(w, http.StatusNotFound, codes.NotFound, "no route "+clip.Quote(r.URL.Path))
}
