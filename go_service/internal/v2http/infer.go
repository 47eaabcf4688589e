package v2http

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/clip"
	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/v2infer"
)

const (
	jsonType   = "application/json"
	binaryType = "application/octet-stream"
	// HeaderLength is the binary tensor data extension's header: the length of the JSON object at
	// the head of a body that binary tensor data follows.
	HeaderLength = "Inference-Header-Content-Length"
	// jsonHeaderCommas is how many commas a JSON header may hold beyond predict.v1's value bound
	// (errors.json json_header_commas): a valid request's names, shape and parameters.
	jsonHeaderCommas = 256
)

// infer is POST …/infer. In order: the Content-Encoding (415), the body (413, 408), the binary
// extension's header length (400), admission (503), then in a work slot: the model and version
// (503, 404), the JSON header's cost and the request (400), the core (400, 504), and the answer,
// written once the request has left its admission place and work slot.
func (h *handler) infer(w http.ResponseWriter, r *http.Request) codes.Code {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		w.Header().Set("Connection", "close")
		return writeError(w, http.StatusUnsupportedMediaType, codes.Unimplemented,
			"Content-Encoding "+clip.Quote(enc)+" is not supported; send the body uncompressed")
	}
	body, err := httpapi.ReadBody(w, r, h.maxBody)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		w.Header().Set("Connection", "close")
		return writeError(w, http.StatusRequestTimeout, codes.DeadlineExceeded, "request body not received in time")
	}
	if err != nil {
		return writeCoreError(w, err)
	}
	header, binaryData, err := split(r.Header.Values(HeaderLength), body)
	if err != nil {
		return writeCoreError(w, err)
	}
	lane := h.small
	if len(header)+len(binaryData) > httpapi.BigBody {
		lane = h.big
	}
	started, err := admission.Enter(r.Context(), h.core, h.rec, metrics.HTTP, nil, lane)
	if err != nil {
		return writeCoreError(w, err)
	}
	out, headerLen, err := h.compute(r, header, binaryData, lane, started)
	if err != nil {
		return writeCoreError(w, err)
	}
	if headerLen < 0 {
		writeBody(w, http.StatusOK, jsonType, out)
		return codes.OK
	}
	w.Header().Set(HeaderLength, strconv.Itoa(headerLen))
	writeBody(w, http.StatusOK, binaryType, out)
	return codes.OK
}

// split cuts a body into its JSON header and the binary data after it, as the header length says
// (absent: all JSON; 0: all binary, Triton's raw binary request, header nil).
func split(lengths []string, body []byte) (header, binaryData []byte, err error) {
	if len(lengths) == 0 {
		return body, nil, nil
	}
	n, perr := strconv.ParseUint(strings.TrimSpace(lengths[0]), 10, 63)
	switch {
	case len(lengths) > 1:
		return nil, nil, status.Errorf(codes.InvalidArgument, "%s given %d times", HeaderLength, len(lengths))
	case perr != nil:
		return nil, nil, status.Errorf(codes.InvalidArgument, "%s %s is not a decimal byte count", HeaderLength, clip.Quote(lengths[0]))
	case n > uint64(len(body)):
		return nil, nil, status.Errorf(codes.InvalidArgument, "%s %d exceeds the body's %d bytes", HeaderLength, n, len(body))
	case n == 0:
		return nil, body, nil
	}
	return body[:n], body[n:], nil
}

// compute is an admitted request's CPU work, in the work slot of its body's lane it took at
// `started`: decode, the core, encode. It leaves the slot and the admission place as it returns.
func (h *handler) compute(r *http.Request, header, binaryData []byte, lane *admission.Lane, started time.Time) (out []byte, headerLen int, err error) {
	defer admission.Exit(h.core, h.rec, metrics.HTTP, nil, lane, started)

	start := time.Now()
	version := r.PathValue("version")
	info, err := h.core.GetModelVersion(r.PathValue("model"), version)
	if err != nil {
		return nil, 0, err
	}
	var d decoded
	if header == nil {
		d, err = decodeRaw(info, version, binaryData)
	} else {
		d, err = h.decodeJSON(info, version, header, binaryData)
	}
	if err != nil {
		return nil, 0, err
	}
	decode := time.Since(start)
	res, t, err := h.core.PredictBatch(r.Context(), d.batch)
	if err != nil {
		return nil, 0, err
	}
	h.rec.Phase(metrics.HTTP, metrics.Decode, decode)
	h.rec.Phase(metrics.HTTP, metrics.Tensor, t.Tensor)
	h.rec.Phase(metrics.HTTP, metrics.Inference, t.Inference)

	start = time.Now()
	out, headerLen, err = encode(res, d.id, v2infer.Answer(res, d.outputs))
	if err != nil {
		return nil, 0, status.Error(codes.Internal, "internal error")
	}
	h.rec.Phase(metrics.HTTP, metrics.Encode, t.Shape+time.Since(start))
	return out, headerLen, nil
}

// decodeJSON refuses a header costlier to decode than any valid request's (predict.v1's value
// bound plus jsonHeaderCommas; its digit bound), then decodes it.
func (h *handler) decodeJSON(info *predictv1.ModelInfo, version string, header, binaryData []byte) (decoded, error) {
	bound := h.core.ValueBound()
	if bound > 0 {
		bound += jsonHeaderCommas
	}
	if err := httpapi.JSONTooCostly(header, bound); err != nil {
		return decoded{}, err
	}
	return decode(info, version, header, binaryData)
}

// decodeRaw is Triton's raw binary request (header length 0): the body is the model's one input,
// FP32 rows of n_features; every output is answered, as binary data.
func decodeRaw(info *predictv1.ModelInfo, version string, data []byte) (decoded, error) {
	cols := int(info.GetNFeatures())
	if len(data) == 0 || len(data)%(4*cols) != 0 {
		return decoded{}, status.Errorf(codes.InvalidArgument, "raw binary request of %d bytes: not a whole number of rows of %d FP32 values", len(data), cols)
	}
	rows := len(data) / (4 * cols)
	values, err := v2infer.FP32FromRaw(data, rows*cols, "the raw binary request")
	if err != nil {
		return decoded{}, err
	}
	selected, _ := v2infer.Select(info, nil, true)
	return decoded{batch: predictor.Batch{Model: info.GetName(), Version: version, Rows: rows, Cols: cols, Data: values}, outputs: selected}, nil
}
