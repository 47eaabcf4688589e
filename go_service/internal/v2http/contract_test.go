package v2http

// The REST adapter against the contract's data files (proto/inference): the routes (routes.json:
// methods, Allow, bodies), the error table (errors.json: each condition's status through a core
// raising its code; json_header_commas), and the health, metadata and error answers, on a fake
// core (errors) and the real one (routes).

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/v2cases"
)

var irisBody = `{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}`

func serve(h http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// jsonBody decodes an answer's JSON body into a map.
func jsonBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != jsonType {
		t.Fatalf("Content-Type %q", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("body %q: %v", rec.Body.Bytes(), err)
	}
	return doc
}

// isError checks an {"error": "..."} body.
func isError(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	doc := jsonBody(t, rec)
	msg, ok := doc["error"].(string)
	if len(doc) != 1 || !ok || msg == "" {
		t.Fatalf("HTTP %d body %v is not {\"error\": message}", rec.Code, doc)
	}
	return msg
}

func TestRoutesFollowTheContract(t *testing.T) {
	h := New(v2cases.Predictor(t), Options{MaxBody: 1 << 20})
	var doc struct {
		Routes []struct {
			Method      string   `json:"method"`
			Allow       []string `json:"allow"`
			ExamplePath string   `json:"example_path"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(v2cases.ContractFile(t, "routes.json"), &doc); err != nil || len(doc.Routes) == 0 {
		t.Fatalf("routes.json: %v", err)
	}
	for _, route := range doc.Routes {
		t.Run(route.Method+" "+route.ExamplePath, func(t *testing.T) {
			for _, m := range route.Allow {
				if rec := serve(h, m, route.ExamplePath, irisBody); rec.Code != http.StatusOK {
					t.Errorf("%s: HTTP %d %q", m, rec.Code, rec.Body.String())
				}
			}
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
				if slices.Contains(route.Allow, m) {
					continue
				}
				rec := serve(h, m, route.ExamplePath, irisBody)
				if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != strings.Join(route.Allow, ", ") {
					t.Errorf("%s: HTTP %d Allow %q; want 405 Allow %q", m, rec.Code, rec.Header().Get("Allow"), strings.Join(route.Allow, ", "))
				}
				isError(t, rec)
			}
		})
	}
	for _, path := range []string{"/v2/nope", "/v2/models", "/v2/models/iris-logreg/versions", "/v2/models/iris-logreg/infer/x"} {
		if rec := serve(h, http.MethodGet, path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: HTTP %d; want 404", path, rec.Code)
		} else {
			isError(t, rec)
		}
	}
}

func TestHealthAndMetadata(t *testing.T) {
	ready := New(v2cases.Predictor(t), Options{MaxBody: 1 << 20})
	loading := New(predictor.New(predictor.Options{MaxBatch: 8}), Options{MaxBody: 1 << 20})
	tests := []struct {
		name   string
		h      http.Handler
		path   string
		status int
		want   string // the JSON body, "" for an {"error"} body
	}{
		{"live", ready, "/v2/health/live", 200, `{"live": true}`},
		{"live while loading", loading, "/v2/health/live", 200, `{"live": true}`},
		{"ready", ready, "/v2/health/ready", 200, `{"ready": true}`},
		{"not ready", loading, "/v2/health/ready", 503, `{"ready": false}`},
		{"model ready", ready, "/v2/models/iris-logreg/ready", 200, `{"name": "iris-logreg", "ready": true}`},
		{"model version ready", ready, "/v2/models/iris-logreg/versions/1/ready", 200, `{"name": "iris-logreg", "ready": true}`},
		{"model not ready", loading, "/v2/models/iris-logreg/ready", 503, `{"name": "iris-logreg", "ready": false}`},
		{"unknown model ready", ready, "/v2/models/nope/ready", 404, ""},
		{"unknown version ready", ready, "/v2/models/iris-logreg/versions/2/ready", 404, ""},
		{"server metadata", ready, "/v2", 200, `{"name": "servebench", "version": "2.0.0", "extensions": ["binary_tensor_data"]}`},
		{"server metadata, slash", loading, "/v2/", 200, `{"name": "servebench", "version": "2.0.0", "extensions": ["binary_tensor_data"]}`},
		{"model metadata", ready, "/v2/models/diabetes-gbr", 200, ""},
		{"model metadata while loading", loading, "/v2/models/iris-logreg", 503, ""},
		{"unknown model metadata", ready, "/v2/models/nope/versions/1", 404, ""},
		{"infer while loading", loading, "/v2/models/iris-logreg/infer", 503, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodGet
			if strings.HasSuffix(tc.path, "/infer") {
				method = http.MethodPost
			}
			rec := serve(tc.h, method, tc.path, irisBody)
			if rec.Code != tc.status {
				t.Fatalf("HTTP %d %q; want %d", rec.Code, rec.Body.String(), tc.status)
			}
			switch {
			case tc.name == "model metadata":
				doc := jsonBody(t, rec)
				if doc["name"] != "diabetes-gbr" || doc["platform"] != "onnx_onnxv1" || len(doc["outputs"].([]any)) != 1 {
					t.Errorf("metadata %v", doc)
				}
			case tc.want == "":
				isError(t, rec)
			default:
				var want any
				_ = json.Unmarshal([]byte(tc.want), &want)
				if got := jsonBody(t, rec); !equalJSON(got, want) {
					t.Errorf("body %v; want %v", got, want)
				}
			}
		})
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// fakeCore refuses or fails as told; it serves one iris-like model.
type fakeCore struct {
	admit, predict error
}

func (f fakeCore) Admit(context.Context, any, *admission.Lane) error   { return f.admit }
func (f fakeCore) Release(any, *admission.Lane)                        {}
func (f fakeCore) Refuses(context.Context, any, *admission.Lane) error { return f.admit }
func (f fakeCore) Ready() bool                                         { return true }
func (f fakeCore) ValueBound() int64                                   { return 10 }
func (f fakeCore) PredictBatch(context.Context, predictor.Batch) (predictor.Result, predictor.Timings, error) {
	return predictor.Result{}, predictor.Timings{}, f.predict
}
func (f fakeCore) GetModelVersion(string, string) (*predictv1.ModelInfo, error) {
	return &predictv1.ModelInfo{Name: "m", Version: "1", Task: "classification", InputName: "input", NFeatures: 4, ClassLabels: []string{"a", "b"}}, nil
}

func TestErrorsFollowTheErrorTable(t *testing.T) {
	var table struct {
		JSONHeaderCommas int `json:"json_header_commas"`
		Conditions       []struct {
			Condition  string `json:"condition"`
			Source     string `json:"source"`
			GRPCCode   string `json:"grpc_code"`
			HTTPStatus int    `json:"http_status"`
			Retryable  bool   `json:"retryable"`
		} `json:"conditions"`
	}
	if err := json.Unmarshal(v2cases.ContractFile(t, "errors.json"), &table); err != nil {
		t.Fatal(err)
	}
	if table.JSONHeaderCommas != jsonHeaderCommas {
		t.Errorf("json_header_commas %d; the code has %d", table.JSONHeaderCommas, jsonHeaderCommas)
	}
	for _, cond := range table.Conditions {
		if cond.Source != "core" && cond.Source != "admission" {
			continue
		}
		t.Run(cond.Condition, func(t *testing.T) {
			var c codes.Code
			if err := c.UnmarshalJSON([]byte(`"` + cond.GRPCCode + `"`)); err != nil {
				t.Fatal(err)
			}
			st := status.New(c, "the core's "+cond.Condition)
			if cond.Retryable {
				st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
			}
			core := fakeCore{predict: st.Err()}
			if cond.Source == "admission" {
				core = fakeCore{admit: st.Err()}
			}
			rec := serve(New(core, Options{MaxBody: 1 << 20}), http.MethodPost, "/v2/models/m/infer", irisBody)
			msg := isError(t, rec)
			if rec.Code != cond.HTTPStatus {
				t.Errorf("HTTP %d %q; errors.json says %d", rec.Code, msg, cond.HTTPStatus)
			}
			if cond.Retryable && rec.Header().Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q; want 1", rec.Header().Get("Retry-After"))
			}
			if want := "the core's " + cond.Condition; c == codes.Internal {
				if msg != "internal error" {
					t.Errorf("INTERNAL answered %q; want the generic \"internal error\"", msg)
				}
			} else if msg != want {
				t.Errorf("message %q; want %q", msg, want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	body := []byte(`{"a":1}BINARY`)
	tests := []struct {
		name            string
		lengths         []string
		header, binData string
		isRaw           bool
		message         string
	}{
		{"no header: all JSON", nil, `{"a":1}BINARY`, "", false, ""},
		{"header and binary", []string{"7"}, `{"a":1}`, "BINARY", false, ""},
		{"spaces around", []string{" 7 "}, `{"a":1}`, "BINARY", false, ""},
		{"whole body", []string{"13"}, `{"a":1}BINARY`, "", false, ""},
		{"zero: raw binary request", []string{"0"}, "", `{"a":1}BINARY`, true, ""},
		{"beyond the body", []string{"14"}, "", "", false, "exceeds the body's 13 bytes"},
		{"negative", []string{"-1"}, "", "", false, "not a decimal byte count"},
		{"not a number", []string{"7a"}, "", "", false, "not a decimal byte count"},
		{"hex", []string{"0x7"}, "", "", false, "not a decimal byte count"},
		{"huge", []string{"99999999999999999999999"}, "", "", false, "not a decimal byte count"},
		{"twice", []string{"7", "7"}, "", "", false, "given 2 times"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header, binData, err := split(tc.lengths, body)
			if tc.message != "" {
				if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.message) {
					t.Fatalf("got %v; want INVALID_ARGUMENT containing %q", err, tc.message)
				}
				return
			}
			if err != nil || string(header) != tc.header || string(binData) != tc.binData || (header == nil) != tc.isRaw {
				t.Fatalf("got %q, %q, %v", header, binData, err)
			}
		})
	}
}

func TestJSONData(t *testing.T) {
	tests := []struct {
		data       string
		rows, cols int
		want       []float32
		message    string
	}{
		{`[1, 2, 3, 4]`, 1, 4, []float32{1, 2, 3, 4}, ""},
		{` [ [1, 2], [3, 4] ] `, 2, 2, []float32{1, 2, 3, 4}, ""},
		{`[]`, 0, 4, []float32{}, ""},
		{`[[1, 2, 3], [4]]`, 2, 2, nil, "row 0 has 3 values"},
		{`[[1, 2]]`, 2, 2, nil, "data has 1 rows, its shape 2"},
		{`[[[1, 2]]]`, 1, 2, nil, "list of numbers"},
		{`[1, [2]]`, 1, 2, nil, "list of numbers"},
		{`["1", "2"]`, 1, 2, nil, "list of numbers"},
		{`[1e39, 2]`, 1, 2, nil, "list of numbers"},
		{`{"a": 1}`, 1, 1, nil, "list of numbers"},
		{`[true, 2]`, 1, 2, nil, "list of numbers"},
	}
	for _, tc := range tests {
		t.Run(tc.data, func(t *testing.T) {
			got, err := jsonData("input", json.RawMessage(tc.data), tc.rows, tc.cols)
			if tc.message != "" {
				if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.message) {
					t.Fatalf("got %v, %v; want INVALID_ARGUMENT containing %q", got, err, tc.message)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestMetricsRecorded: an inference and a metadata request are counted under the HTTP protocol as
// ModelInfer and ModelMetadata, and the inference's four phases are recorded.
func TestMetricsRecorded(t *testing.T) {
	m := metrics.New()
	h := New(v2cases.Predictor(t), Options{MaxBody: 1 << 20, Metrics: m})
	if rec := serve(h, http.MethodPost, "/v2/models/iris-logreg/infer", irisBody); rec.Code != http.StatusOK {
		t.Fatalf("infer: HTTP %d", rec.Code)
	}
	if rec := serve(h, http.MethodGet, "/v2/models/nope", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("metadata: HTTP %d", rec.Code)
	}
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			key := f.GetName()
			for _, l := range s.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			if f.GetType().String() == "HISTOGRAM" {
				got[key] = float64(s.GetHistogram().GetSampleCount())
			} else if s.GetCounter() != nil {
				got[key] = s.GetCounter().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"servebench_requests_total code=OK method=ModelInfer protocol=http":           1,
		"servebench_requests_total code=NOT_FOUND method=ModelMetadata protocol=http": 1,
		"servebench_phase_duration_seconds phase=decode protocol=http":                1,
		"servebench_phase_duration_seconds phase=tensor protocol=http":                1,
		"servebench_phase_duration_seconds phase=inference protocol=http":             1,
		"servebench_phase_duration_seconds phase=encode protocol=http":                1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v; want %v", key, got[key], want)
		}
	}
}

// TestDeadlinePassed: a request whose context's deadline has passed is 504, without inference.
func TestDeadlinePassed(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v2/models/iris-logreg/infer", strings.NewReader(irisBody))
	rec := httptest.NewRecorder()
	New(v2cases.Predictor(t), Options{MaxBody: 1 << 20}).ServeHTTP(rec, req)
	if rec.Code != http.StatusGatewayTimeout {
		t.Fatalf("HTTP %d %q; want 504", rec.Code, rec.Body.String())
	}
	isError(t, rec)
}
