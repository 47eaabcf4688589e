package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"servebench/go_service/internal/clip"
)

var marshal = protojson.MarshalOptions{UseProtoNames: true}

// httpStatusForCode and httpStatusWhenRetryable are the error table's code → HTTP status rules
// (proto/predict/v1/errors.json; contract_test.go checks them against it).
var (
	httpStatusForCode = map[codes.Code]int{
		codes.InvalidArgument:   http.StatusBadRequest,
		codes.NotFound:          http.StatusNotFound,
		codes.ResourceExhausted: http.StatusRequestEntityTooLarge,
		codes.Unavailable:       http.StatusServiceUnavailable,
		codes.DeadlineExceeded:  http.StatusGatewayTimeout,
		codes.Internal:          http.StatusInternalServerError,
	}
	httpStatusWhenRetryable = map[codes.Code]int{
		codes.ResourceExhausted: http.StatusServiceUnavailable,
		codes.Unavailable:       http.StatusServiceUnavailable,
	}
)

// answer is how the HTTP adapter answers a core error.
type answer struct {
	status     int
	code       codes.Code
	message    string
	retryAfter time.Duration // > 0: a Retry-After header
}

// answerFor maps a core error (a gRPC status, possibly carrying google.rpc.RetryInfo) to its HTTP
// answer. A code outside the table is a bug: 500 INTERNAL with a generic message.
func answerFor(err error) answer {
	st := status.Convert(err)
	a := answer{code: st.Code(), message: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			a.retryAfter = info.GetRetryDelay().AsDuration()
		}
	}
	var ok bool
	if a.retryAfter > 0 {
		a.status, ok = httpStatusWhenRetryable[a.code]
	}
	if !ok {
		a.status, ok = httpStatusForCode[a.code]
	}
	if !ok || a.code == codes.Internal {
		return answer{status: http.StatusInternalServerError, code: codes.Internal, message: "internal error"}
	}
	return a
}

// writeCoreError answers a core error and returns the code answered.
func writeCoreError(w http.ResponseWriter, err error) codes.Code {
	a := answerFor(err)
	if a.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(a.retryAfter.Seconds()))))
	}
	return writeError(w, a.status, a.code, a.message)
}

// writeError answers {"code": code, "message": message} (the message capped) and returns code.
func writeError(w http.ResponseWriter, httpStatus int, code codes.Code, message string) codes.Code {
	writeJSON(w, httpStatus, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{int(code), clip.Message(message)})
	return code
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		httpStatus, body = http.StatusInternalServerError, []byte(`{"code":13,"message":"internal error"}`)
	}
	writeBody(w, httpStatus, jsonType, body)
}

// writeJSONProto answers m in the proto3 JSON mapping.
func writeJSONProto(w http.ResponseWriter, m proto.Message) codes.Code {
	body, err := marshal.Marshal(m)
	if err != nil {
		return writeError(w, http.StatusInternalServerError, codes.Internal, "internal error")
	}
	writeBody(w, http.StatusOK, jsonType, body)
	return codes.OK
}

func writeBody(w http.ResponseWriter, httpStatus int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}
