package v2http_test

// The shared V2 conformance cases (tests/vectors/v2/cases.json) over this adapter in process, on
// the real core and models: the ways "json" (JSON data), "binary" (the binary tensor data
// extension) and "http" (a raw body).

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"servebench/go_service/internal/v2cases"
	"servebench/go_service/internal/v2http"
)

const maxBody = 4 << 20

func newHandler(t *testing.T) http.Handler {
	return v2http.New(v2cases.Predictor(t), v2http.Options{MaxBody: maxBody})
}

func TestSharedCases(t *testing.T) {
	h := newHandler(t)
	conds := v2cases.Conditions(t)
	for _, c := range v2cases.Load(t) {
		for _, way := range c.Ways {
			if way != "json" && way != "binary" && way != "http" {
				continue
			}
			t.Run(c.Name+"@"+way, func(t *testing.T) {
				req := httpRequest(t, c, way)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				got := normalize(t, rec)
				for _, d := range v2cases.Check(t, c, way, got, conds) {
					t.Error(d)
				}
			})
		}
	}
}

// httpRequest builds the case's request over way.
func httpRequest(t *testing.T, c v2cases.Case, way string) *http.Request {
	t.Helper()
	if way == "http" {
		req := httptest.NewRequest(http.MethodPost, c.Path(), bytes.NewReader(c.Body()))
		for k, v := range c.HTTP.Headers {
			req.Header.Set(k, v)
		}
		return req
	}
	r := c.Logical(t)
	if way == "json" {
		body, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return httptest.NewRequest(http.MethodPost, c.Path(), bytes.NewReader(body))
	}
	body, headerLen := binaryBody(t, c, r)
	req := httptest.NewRequest(http.MethodPost, c.Path(), bytes.NewReader(body))
	req.Header.Set(v2http.HeaderLength, headerLen)
	return req
}

// binaryBody is the request with each input's data as binary data after the JSON header, and
// the case's binary mutations applied; it returns the body and the header length to send.
func binaryBody(t *testing.T, c v2cases.Case, r v2cases.Request) ([]byte, string) {
	var raw []byte
	keep := false
	v2cases.Option(t, c.Binary, "keep_data", &keep)
	for i := range r.Inputs {
		in := &r.Inputs[i]
		data := v2cases.Raw(in.Datatype, in.Data)
		raw = append(raw, data...)
		if in.Parameters == nil {
			in.Parameters = map[string]any{}
		}
		in.Parameters["binary_data_size"] = len(data)
		var size any
		if v2cases.Option(t, c.Binary, "binary_data_size", &size) {
			if size == nil {
				delete(in.Parameters, "binary_data_size")
			} else {
				in.Parameters["binary_data_size"] = size
			}
		}
		if !keep {
			in.Data = nil
		}
	}
	var trailing int
	if v2cases.Option(t, c.Binary, "trailing_bytes", &trailing) {
		if trailing >= 0 {
			raw = append(raw, make([]byte, trailing)...)
		} else {
			raw = raw[:len(raw)+trailing]
		}
	}
	var rawOnly bool
	if v2cases.Option(t, c.Binary, "raw", &rawOnly) && rawOnly {
		return raw, "0"
	}
	header, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !keep { // no "data" key at all, as tritonclient sends
		var doc map[string]any
		if err := json.Unmarshal(header, &doc); err != nil {
			t.Fatal(err)
		}
		for _, in := range doc["inputs"].([]any) {
			delete(in.(map[string]any), "data")
		}
		if header, err = json.Marshal(doc); err != nil {
			t.Fatal(err)
		}
	}
	headerLen := strconv.Itoa(len(header))
	v2cases.Option(t, c.Binary, "header_length", &headerLen)
	return append(header, raw...), headerLen
}

// normalize reads a REST answer: {"error"} with its status, or the inference response with each
// output's data, JSON or binary.
func normalize(t *testing.T, rec *httptest.ResponseRecorder) v2cases.Answer {
	t.Helper()
	body := rec.Body.Bytes()
	header := body
	if n := rec.Header().Get(v2http.HeaderLength); n != "" {
		length, err := strconv.Atoi(n)
		if err != nil || length > len(body) || rec.Header().Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("%s %q with a %d-byte body, Content-Type %q", v2http.HeaderLength, n, len(body), rec.Header().Get("Content-Type"))
		}
		header = body[:length]
	} else if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q; want application/json", ct)
	}
	if rec.Code != http.StatusOK {
		var e map[string]any
		if err := json.Unmarshal(body, &e); err != nil || len(e) != 1 || e["error"] == nil {
			t.Fatalf("HTTP %d error body %q is not {\"error\": ...}", rec.Code, body)
		}
		msg, _ := e["error"].(string)
		return v2cases.Answer{HTTPStatus: rec.Code, Message: msg}
	}
	var resp struct {
		ModelName    string           `json:"model_name"`
		ModelVersion string           `json:"model_version"`
		ID           string           `json:"id"`
		Outputs      []v2cases.Tensor `json:"outputs"`
	}
	if err := json.Unmarshal(header, &resp); err != nil {
		t.Fatalf("answer %q: %v", header, err)
	}
	binaryData := body[len(header):]
	for i := range resp.Outputs {
		o := &resp.Outputs[i]
		size, ok := o.Parameters["binary_data_size"].(float64)
		if !ok {
			continue
		}
		if o.Data != nil || int(size) > len(binaryData) {
			t.Fatalf("output %s: binary_data_size %v with data %v and %d bytes left", o.Name, size, o.Data, len(binaryData))
		}
		o.Binary, o.Data = true, v2cases.FromRaw(t, o.Datatype, binaryData[:int(size)])
		binaryData = binaryData[int(size):]
	}
	if len(binaryData) > 0 {
		t.Fatalf("%d bytes of binary data left over", len(binaryData))
	}
	return v2cases.Answer{OK: true, ModelName: resp.ModelName, ModelVersion: resp.ModelVersion, ID: resp.ID, Outputs: resp.Outputs}
}
