package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

const (
	testMaxBody  = 4194304
	testMaxBatch = 1024
	irisSetosa   = `{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}`
)

var (
	coreOnce sync.Once
	core     *predictor.Predictor
	coreErr  error
)

// loadedCore is one Predictor holding the real models, shared by the tests of this binary.
func loadedCore(t testing.TB) *predictor.Predictor {
	t.Helper()
	modeltest.InitORT(t)
	models := modeltest.Models(t)
	coreOnce.Do(func() {
		core = predictor.New(predictor.Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: testMaxBatch})
		coreErr = core.Load(models)
	})
	if coreErr != nil {
		t.Fatal(coreErr)
	}
	return core
}

// server starts an httptest server over loadedCore.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpapi.New(loadedCore(t), httpapi.Options{MaxBody: testMaxBody}))
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, srv *httptest.Server, method, path, contentType string, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if method != http.MethodHead {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q, body %q", method, path, ct, raw)
		}
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
		}
	}
	return a
}

// TestPredictOK covers the answers' JSON shape: proto field names, defaults omitted, class 0
// written, regressor value present.
func TestPredictOK(t *testing.T) {
	srv := server(t)
	tests := []struct {
		name, contentType, body string
		wantLabel               string
	}{
		{"plain", "application/json", irisSetosa, "setosa"},
		{"charset parameter", "application/json; charset=utf-8", irisSetosa, "setosa"},
		{"media type is case-insensitive", "Application/JSON", irisSetosa, "setosa"},
		{"numbers as strings", "application/json", `{"model":"iris-logreg","instances":[{"features":["5.1","3.5","1.4","0.2"]}]}`, "setosa"},
		{"exponent and integers", "application/json", `{"model":"iris-logreg","instances":[{"features":[51e-1,3.5,1.4,0.2]}]}`, "setosa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, srv, http.MethodPost, "/v1/predict", tc.contentType, strings.NewReader(tc.body))
			if a.status != http.StatusOK {
				t.Fatalf("status %d body %v", a.status, a.body)
			}
			preds := a.body["predictions"].([]any)
			pred := preds[0].(map[string]any)
			if a.body["model"] != "iris-logreg" || a.body["model_version"] != "1" || pred["label"] != tc.wantLabel {
				t.Fatalf("body %v", a.body)
			}
			if ci, ok := pred["class_index"]; !ok || ci != float64(0) {
				t.Fatalf("class_index must be written as the number 0: %v", pred)
			}
			if _, ok := pred["value"]; ok {
				t.Fatalf("classifier answer carries value: %v", pred)
			}
			if len(pred["probabilities"].([]any)) != 3 {
				t.Fatalf("want 3 probabilities: %v", pred)
			}
		})
	}
	t.Run("regressor", func(t *testing.T) {
		a := do(t, srv, http.MethodPost, "/v1/predict", "application/json",
			strings.NewReader(`{"model":"diabetes-gbr","instances":[{"features":[0,0,0,0,0,0,0,0,0,0]}]}`))
		pred := a.body["predictions"].([]any)[0].(map[string]any)
		if _, ok := pred["value"].(float64); a.status != 200 || !ok || len(pred) != 1 {
			t.Fatalf("status %d, prediction %v: want only a numeric value", a.status, pred)
		}
	})
}

// TestPredictErrors: every HTTP error rule of the brief, with its {"code","message"} body.
func TestPredictErrors(t *testing.T) {
	srv := server(t)
	const ct = "application/json"
	tests := []struct {
		name, method, path, contentType string
		body                            io.Reader
		status, code                    int
		allow                           string
		contains                        string // substring of the message, when it matters which layer answered
	}{
		{"malformed JSON", "POST", "/v1/predict", ct, strings.NewReader(`{"model":`), 400, 3, "", ""},
		{"not an object", "POST", "/v1/predict", ct, strings.NewReader(`[1,2]`), 400, 3, "", ""},
		{"trailing garbage", "POST", "/v1/predict", ct, strings.NewReader(irisSetosa + `x`), 400, 3, "", ""},
		{"wrong type for model", "POST", "/v1/predict", ct, strings.NewReader(`{"model":5,"instances":[{"features":[5.1,3.5,1.4,0.2]}]}`), 400, 3, "", ""},
		{"wrong type for instances", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":{"features":[1,2,3,4]}}`), 400, 3, "", ""},
		{"boolean feature", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[true,3.5,1.4,0.2]}]}`), 400, 3, "", ""},
		{"non-numeric string feature", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":["abc",3.5,1.4,0.2]}]}`), 400, 3, "", ""},
		{"float32 overflow", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[1e39,3.5,1.4,0.2]}]}`), 400, 3, "", ""},
		{"unknown field", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}],"extra":1}`), 400, 3, "", "unknown field"},
		{"unknown nested field", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2],"x":[]}]}`), 400, 3, "", ""},
		{"null feature", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[5.1,null,1.4,0.2]}]}`), 400, 3, "", ""},
		{"null instance", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[null]}`), 400, 3, "", ""},
		{"invalid UTF-8", "POST", "/v1/predict", ct, strings.NewReader("{\"model\":\"iris\xff-logreg\",\"instances\":[{\"features\":[5.1,3.5,1.4,0.2]}]}"), 400, 3, "", "UTF-8"},
		{"empty body", "POST", "/v1/predict", ct, strings.NewReader(""), 400, 3, "", "empty"},
		{"quoted NaN is parsed, then rejected as not finite", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":["NaN",3.5,1.4,0.2]}]}`), 400, 3, "", "not finite"},
		{"quoted Infinity", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[5.1,"Infinity",1.4,0.2]}]}`), 400, 3, "", "not finite"},
		{"quoted -Infinity", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[5.1,3.5,"-Infinity",0.2]}]}`), 400, 3, "", "not finite"},
		{"bare NaN token", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[NaN,3.5,1.4,0.2]}]}`), 400, 3, "", ""},
		{"null instances", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":null}`), 400, 3, "", "no instances"},
		{"no instances", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[]}`), 400, 3, "", "no instances"},
		{"empty object", "POST", "/v1/predict", ct, strings.NewReader(`{}`), 400, 3, "", "model name is empty"},
		{"wrong feature count", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[1,2,3]}]}`), 400, 3, "", ""},
		{"ragged rows", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[1,2,3,4]},{"features":[1]}]}`), 400, 3, "", "instance 1"},
		{"batch over max-batch", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"iris-logreg","instances":[` + strings.Repeat(`{"features":[1,2,3,4]},`, testMaxBatch) + `{"features":[1,2,3,4]}]}`), 400, 3, "", "limit of 1024"},
		{"unknown model", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"nope","instances":[{"features":[1]}]}`), 404, 5, "", ""},
		{"no content type", "POST", "/v1/predict", "", strings.NewReader(irisSetosa), 415, 12, "", ""},
		{"wrong content type", "POST", "/v1/predict", "text/plain", strings.NewReader(irisSetosa), 415, 12, "", ""},
		{"form content type", "POST", "/v1/predict", "application/x-www-form-urlencoded", strings.NewReader(irisSetosa), 415, 12, "", ""},
		{"GET on predict", "GET", "/v1/predict", "", nil, 405, 12, "POST", ""},
		{"PUT on predict", "PUT", "/v1/predict", ct, strings.NewReader(irisSetosa), 405, 12, "POST", ""},
		{"POST on models", "POST", "/v1/models", ct, strings.NewReader(`{}`), 405, 12, "GET, HEAD", ""},
		{"DELETE on a model", "DELETE", "/v1/models/iris-logreg", "", nil, 405, 12, "GET, HEAD", ""},
		{"POST on healthz", "POST", "/healthz", "", nil, 405, 12, "GET, HEAD", ""},
		{"body too large", "POST", "/v1/predict", ct, strings.NewReader(`{"model":"` + strings.Repeat("a", testMaxBody) + `"}`), 413, 8, "", ""},
		{"body too large, length unknown", "POST", "/v1/predict", ct, io.MultiReader(strings.NewReader(`{"model":"`), strings.NewReader(strings.Repeat("a", testMaxBody)), strings.NewReader(`"}`)), 413, 8, "", ""},
		{"unknown route", "GET", "/v1/nope", "", nil, 404, 5, "", ""},
		{"root", "GET", "/", "", nil, 404, 5, "", ""},
		{"trailing slash", "GET", "/v1/models/", "", nil, 404, 5, "", ""},
		{"unknown model info", "GET", "/v1/models/nope", "", nil, 404, 5, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, srv, tc.method, tc.path, tc.contentType, tc.body)
			msg, _ := a.body["message"].(string)
			if a.status != tc.status || a.body["code"] != float64(tc.code) || msg == "" || len(a.body) != 2 {
				t.Fatalf("got %d %v; want %d with {\"code\": %d, \"message\": ...}", a.status, a.body, tc.status, tc.code)
			}
			if !strings.Contains(msg, tc.contains) {
				t.Fatalf("message %q does not contain %q", msg, tc.contains)
			}
			if got := a.header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q; want %q", got, tc.allow)
			}
		})
	}
}

// TestBodyTooLargeSentWhole: a client that writes its whole oversized body before reading (as
// Python's http.client and many SDKs do) reads the 413 answer, not a connection reset.
func TestBodyTooLargeSentWhole(t *testing.T) {
	const limit = 1 << 20
	modeltest.InitORT(t)
	srv := httptest.NewServer(httpapi.New(predictor.New(predictor.Options{MaxBatch: 1}), httpapi.Options{MaxBody: limit}))
	defer srv.Close()
	body := `{"model":"` + strings.Repeat("a", 3*limit+limit/2) + `"}`
	chunked := func(b string) string {
		var out strings.Builder
		for len(b) > 0 {
			n := min(len(b), 65536)
			fmt.Fprintf(&out, "%x\r\n%s\r\n", n, b[:n])
			b = b[n:]
		}
		return out.String() + "0\r\n\r\n"
	}
	for name, request := range map[string]string{
		"content-length": "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body,
		"chunked": "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n" + chunked(body),
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.(*net.TCPConn).SetWriteBuffer(16384) // writes block until the server reads
			if _, err := io.WriteString(conn, request); err != nil {
				t.Fatalf("writing the whole body: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), `"code":8`) {
				t.Fatalf("got %d %s; want 413 with code 8", resp.StatusCode, raw)
			}
		})
	}
}

func TestModelsAndProbes(t *testing.T) {
	srv := server(t)
	a := do(t, srv, "GET", "/v1/models", "", nil)
	models, _ := a.body["models"].([]any)
	if a.status != 200 || len(models) != len(modeltest.DefaultModels) {
		t.Fatalf("GET /v1/models: %d %v", a.status, a.body)
	}
	a = do(t, srv, "GET", "/v1/models/iris-logreg", "", nil)
	if a.status != 200 || a.body["name"] != "iris-logreg" || a.body["n_features"] != float64(4) || a.body["input_name"] == nil ||
		len(a.body["class_labels"].([]any)) != 3 || len(a.body["sha256"].(string)) != 64 {
		t.Fatalf("GET /v1/models/iris-logreg: %d %v", a.status, a.body)
	}
	if a := do(t, srv, "HEAD", "/v1/models", "", nil); a.status != 200 {
		t.Fatalf("HEAD /v1/models: %d", a.status)
	}
	if a := do(t, srv, "GET", "/healthz", "", nil); a.status != 200 || a.body["status"] != "ok" || len(a.body) != 1 {
		t.Fatalf("/healthz: %d %v", a.status, a.body)
	}
	if a := do(t, srv, "GET", "/readyz", "", nil); a.status != 200 || a.body["status"] != "ready" || len(a.body) != 1 {
		t.Fatalf("/readyz: %d %v", a.status, a.body)
	}
}

// TestNotReady: before models are loaded /readyz and every core route answer 503 with code 14,
// while /healthz says the process is alive.
// TestValueBound: the largest valid request (a full batch of the widest model) is answered; a
// JSON body with more commas than any valid request holds is refused before it is decoded, with
// the bound in the message.
func TestValueBound(t *testing.T) {
	srv := server(t)
	info, widest := "", int32(0)
	list, err := loadedCore(t).ListModels()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Models {
		if m.NFeatures > widest {
			info, widest = m.Name, m.NFeatures
		}
	}
	row := `{"features":[` + strings.TrimSuffix(strings.Repeat("0.5,", int(widest)), ",") + `]}`
	full := `{"model":"` + info + `","instances":[` + strings.TrimSuffix(strings.Repeat(row+",", testMaxBatch), ",") + `]}`
	if a := do(t, srv, "POST", "/v1/predict", "application/json", strings.NewReader(full)); a.status != 200 {
		t.Fatalf("a full batch of %s (%d features): %d %v", info, widest, a.status, a.body)
	}
	bound := int(loadedCore(t).ValueBound())
	for _, tc := range []struct{ name, body string }{
		{"a million features", `{"model":"iris-logreg","instances":[{"features":[` + strings.TrimSuffix(strings.Repeat("1,", 1_000_000), ",") + `]}]}`},
		{"bound + 1 values", `{"model":"iris-logreg","instances":[{"features":[` + strings.TrimSuffix(strings.Repeat("1,", bound+1), ",") + `]}]}`},
		{"commas in a string", `{"model":"` + strings.Repeat(",", bound) + `"}`},
	} {
		a := do(t, srv, "POST", "/v1/predict", "application/json", strings.NewReader(tc.body))
		msg, _ := a.body["message"].(string)
		if a.status != 400 || a.body["code"] != float64(3) || !strings.Contains(msg, fmt.Sprintf("at most %d", bound)) {
			t.Errorf("%s: %d %v; want 400 code 3 naming the bound %d", tc.name, a.status, a.body, bound)
		}
	}
}

func TestNotReady(t *testing.T) {
	modeltest.InitORT(t)
	srv := httptest.NewServer(httpapi.New(predictor.New(predictor.Options{MaxBatch: 1}), httpapi.Options{MaxBody: testMaxBody}))
	defer srv.Close()
	for _, call := range []struct{ method, path, body string }{
		{"GET", "/readyz", ""},
		{"POST", "/v1/predict", irisSetosa},
		{"GET", "/v1/models", ""},
		{"GET", "/v1/models/iris-logreg", ""},
	} {
		if a := do(t, srv, call.method, call.path, "application/json", strings.NewReader(call.body)); a.status != 503 || a.body["code"] != float64(14) {
			t.Errorf("%s %s: %d %v; want 503 code 14", call.method, call.path, a.status, a.body)
		}
	}
	if a := do(t, srv, "GET", "/healthz", "", nil); a.status != 200 {
		t.Fatalf("/healthz: %d %v", a.status, a.body)
	}
}
