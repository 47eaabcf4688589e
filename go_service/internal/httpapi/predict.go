package httpapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/clip"
	"servebench/go_service/internal/metrics"
)

// The media types of POST /v1/predict (routes.json request_media_types, response_media_types).
const (
	jsonType     = "application/json"
	protobufType = "application/x-protobuf"
)

var unmarshalJSON = protojson.UnmarshalOptions{DiscardUnknown: false}

// discardFactor bounds how much of a too-large body is read before answering, in units of maxBody.
const discardFactor = 4

// predict is POST /v1/predict: the body (in either media type), then admission into the lane of
// its size (so that a client trickling its body holds no place) and a work slot there, the work
// (compute), and the answer in the media type Accept prefers, written once the request has left
// its admission place and work slot: a client slow to read a big answer (over net/http's 4 KB
// buffer, written while the handler runs) holds neither. A request whose client went away while
// it waited is dropped without inference, unanswered (CANCELLED, see counted).
func (h *handler) predict(w http.ResponseWriter, r *http.Request) codes.Code {
	isProtobuf, ok := requestIsProtobuf(r.Header.Get("Content-Type"))
	if !ok {
		return writeError(w, http.StatusUnsupportedMediaType, codes.Unimplemented,
			"Content-Type must be "+jsonType+" or "+protobufType)
	}
	body, err := h.readBody(w, r)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		w.Header().Set("Connection", "close")
		return writeError(w, http.StatusRequestTimeout, codes.DeadlineExceeded, "request body not received in time")
	}
	if err != nil {
		return writeCoreError(w, err)
	}
	lane := h.small
	if len(body) > BigBody {
		lane = h.big
	}
	// An HTTP/1.1 connection carries one request at a time: no per-connection share to keep.
	started, err := admission.Enter(r.Context(), h.core, h.rec, metrics.HTTP, nil, lane)
	if err != nil {
		return h.failed(w, err)
	}
	out, contentType, err := h.compute(r, body, isProtobuf, lane, started)
	if err != nil {
		return h.failed(w, err)
	}
	writeBody(w, http.StatusOK, contentType, out)
	return codes.OK
}

// failed answers a predict request's error, except CANCELLED (its client went away): no answer.
func (h *handler) failed(w http.ResponseWriter, err error) codes.Code {
	if status.Code(err) == codes.Canceled {
		return codes.Canceled
	}
	return writeCoreError(w, err)
}

// compute is an admitted request's CPU work, in the work slot of lane it took at `started`:
// decode, the core, encode. It leaves the slot and the admission place as it returns; a failure
// is a gRPC status error (answerFor).
func (h *handler) compute(r *http.Request, body []byte, isProtobuf bool, lane *admission.Lane, started time.Time) (out []byte, contentType string, err error) {
	defer admission.Exit(h.core, h.rec, metrics.HTTP, nil, lane, started)
	start := time.Now()
	req := &predictv1.PredictRequest{}
	if isProtobuf {
		err = proto.Unmarshal(body, req)
	} else {
		if err := jsonTooCostly(body, h.core.ValueBound()); err != nil {
			return nil, "", err
		}
		err = unmarshalJSON.Unmarshal(body, req)
	}
	if err != nil {
		kind := "JSON"
		if isProtobuf {
			kind = "protobuf"
		}
		return nil, "", status.Error(codes.InvalidArgument, "invalid "+kind+" body: "+clip.Quote(parseError(err)))
	}
	decode := time.Since(start)
	resp, t, err := h.core.PredictTimed(r.Context(), req)
	if err != nil {
		return nil, "", err
	}
	h.rec.Phase(metrics.HTTP, metrics.Decode, decode)
	h.rec.Phase(metrics.HTTP, metrics.Tensor, t.Tensor)
	h.rec.Phase(metrics.HTTP, metrics.Inference, t.Inference)

	start = time.Now()
	contentType = jsonType
	if acceptsProtobuf(r.Header["Accept"]) {
		contentType = protobufType
		out, err = proto.Marshal(resp)
	} else {
		out, err = marshal.Marshal(resp)
	}
	if err != nil {
		return nil, "", status.Error(codes.Internal, "internal error")
	}
	h.rec.Phase(metrics.HTTP, metrics.Encode, t.Shape+time.Since(start))
	return out, contentType, nil
}

// maxNumberDigits is the longest run of digits a JSON body may hold (errors.json
// json_number_max_digits, the default of CPython's int_max_str_digits): strconv.ParseFloat reads
// every digit, twice, in a loop the scheduler cannot preempt, so one 4 MiB number held the only P
// for ~60 ms.
const maxNumberDigits = 4300

// jsonTooCostly refuses, before decoding, a JSON body whose decoding would cost more than any
// valid request's (errors.json, too_many_values and number_too_long):
//   - more values than a valid request carries: decoding costs per value (~0.5 µs each in
//     protojson), so a 2 MB body of a million numbers would hold a CPU for half a second. A
//     body's commas bound its values from below (values ≥ commas + 1), and a valid request
//     carries at most bound values; bound 0 (models not loaded) checks nothing;
//   - a run of more than maxNumberDigits digits (a number, or a string holding one).
func jsonTooCostly(body []byte, bound int64) error {
	if commas := int64(bytes.Count(body, []byte{','})); bound > 0 && commas >= bound {
		return status.Errorf(codes.InvalidArgument,
			"request body holds %d commas, so more values than a valid request carries (at most %d: --max-batch × (widest model's n_features + 1))",
			commas, bound)
	}
	run := 0
	for _, c := range body {
		if c < '0' || c > '9' {
			run = 0
		} else if run++; run > maxNumberDigits {
			return status.Errorf(codes.InvalidArgument, "request body holds a number of more than %d digits", maxNumberDigits)
		}
	}
	return nil
}

// readBody reads at most maxBody bytes; more is RESOURCE_EXHAUSTED, nothing is INVALID_ARGUMENT,
// and a body that cannot be read (malformed chunked framing, a read timeout) is
// INVALID_ARGUMENT with the connection closed after the answer.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := status.Errorf(codes.ResourceExhausted, "request body exceeds the limit of %d bytes", h.maxBody)
	if r.ContentLength > h.maxBody {
		h.discard(w, r)
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		h.discard(w, r)
		return nil, tooLarge
	case err != nil:
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return nil, err // the read deadline passed: 408
		}
		w.Header().Set("Connection", "close")
		return nil, status.Error(codes.InvalidArgument, "reading request body: "+clip.Quote(err.Error()))
	case len(body) == 0:
		return nil, status.Error(codes.InvalidArgument, "empty request body")
	}
	return body, nil
}

// discard reads (and drops) up to discardFactor × maxBody more bytes of a refused body and marks
// the connection to close after the answer: a client that sends its whole body before reading
// the answer (Python's http.client, many SDKs) then reads the 413 instead of a connection reset.
func (h *handler) discard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	_, _ = io.CopyN(io.Discard, r.Body, discardFactor*h.maxBody)
}

// requestIsProtobuf reads a Content-Type (parameters such as charset allowed, case-insensitive):
// protobuf or JSON, and whether it is either.
func requestIsProtobuf(contentType string) (isProtobuf, ok bool) {
	switch contentType {
	case jsonType:
		return false, true
	case protobufType:
		return true, true
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return false, false
	}
	switch mediaType {
	case jsonType:
		return false, true
	case protobufType:
		return true, true
	}
	return false, false
}

// acceptsProtobuf reports whether the Accept header values name application/x-protobuf with a
// q-value at least that of application/json (or application/json absent). Wildcards name
// neither, so */* alone keeps the default, JSON. An element that does not parse is ignored.
func acceptsProtobuf(accept []string) bool {
	if len(accept) == 0 {
		return false
	}
	if len(accept) == 1 && accept[0] == protobufType {
		return true
	}
	qProtobuf, qJSON := -1.0, -1.0
	for _, value := range accept {
		for elem := range strings.SplitSeq(value, ",") {
			mediaType, params, err := mime.ParseMediaType(elem)
			if err != nil || (mediaType != protobufType && mediaType != jsonType) {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			if mediaType == protobufType {
				qProtobuf = max(qProtobuf, q)
			} else {
				qJSON = max(qJSON, q)
			}
		}
	}
	return qProtobuf > 0 && qProtobuf >= qJSON
}

// parseError is a protobuf-go parse error's text without its "proto:" prefix.
func parseError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "proto:")
	return strings.TrimLeftFunc(msg, unicode.IsSpace)
}
