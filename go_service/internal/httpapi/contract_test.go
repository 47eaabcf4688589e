package httpapi

// The HTTP adapter against the contract's data files: the error table's code → status rules
// (proto/predict/v1/errors.json) for every gRPC code, and the routes (routes.json).

import (
	"encoding/json"
	"errors"
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

	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

type errorTable struct {
	HTTPStatusForCode       map[string]int `json:"http_status_for_code"`
	HTTPStatusWhenRetryable map[string]int `json:"http_status_for_code_when_retryable"`
	NumberMaxDigits         int            `json:"json_number_max_digits"`
	MaxInflightPerCPU       int            `json:"max_inflight_per_cpu"`
	MaxQueueDelayMS         int            `json:"max_queue_delay_ms"`
	BigBodyBytes            int            `json:"big_body_bytes"`
	Unmapped                struct {
		HTTPStatus int    `json:"http_status"`
		GRPCCode   string `json:"grpc_code"`
		Message    string `json:"message"`
	} `json:"unmapped"`
	Conditions []struct {
		Condition   string   `json:"condition"`
		GRPCCode    *string  `json:"grpc_code"`
		HTTPStatus  int      `json:"http_status"`
		Source      string   `json:"source"`
		HTTPHeaders []string `json:"http_headers"`
		Retryable   bool     `json:"retryable"`
	} `json:"conditions"`
}

func loadTable(t *testing.T) errorTable {
	var table errorTable
	if err := json.Unmarshal(modeltest.ContractFile(t, "errors.json"), &table); err != nil {
		t.Fatal(err)
	}
	if len(table.HTTPStatusForCode) == 0 || table.Unmapped.HTTPStatus == 0 {
		t.Fatal("errors.json lacks http_status_for_code or unmapped")
	}
	return table
}

// codeName is the canonical upper-case name of a gRPC code (INVALID_ARGUMENT), as the table writes it.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func TestErrorMappingFollowsTheErrorTable(t *testing.T) {
	table := loadTable(t)
	for c := codes.OK + 1; c <= codes.Unauthenticated; c++ {
		for _, retryable := range []bool{false, true} {
			want, ok := 0, false
			if retryable {
				want, ok = table.HTTPStatusWhenRetryable[codeName(c)]
			}
			if !ok {
				want, ok = table.HTTPStatusForCode[codeName(c)]
			}
			wantCode, wantMessage := c, "the core's message"
			if !ok {
				want, wantCode, wantMessage = table.Unmapped.HTTPStatus, codes.Internal, table.Unmapped.Message
			}
			if c == codes.Internal {
				wantMessage = table.Unmapped.Message
			}
			st := status.New(c, "the core's message")
			if retryable {
				st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(2 * time.Second)})
			}
			got := answerFor(st.Err())
			if got.status != want || got.code != wantCode || got.message != wantMessage {
				t.Errorf("%s (retryable %v): answered %d %s %q; errors.json says %d %s %q",
					codeName(c), retryable, got.status, codeName(got.code), got.message, want, codeName(wantCode), wantMessage)
			}
		}
	}
	if got := answerFor(errors.New("a plain error")); got.status != table.Unmapped.HTTPStatus || got.message != table.Unmapped.Message {
		t.Errorf("a plain error: %+v", got)
	}
	for _, cond := range table.Conditions {
		if cond.Source != "core" && cond.Source != "admission" {
			continue
		}
		c := codes.OK
		if err := c.UnmarshalJSON([]byte(`"` + *cond.GRPCCode + `"`)); err != nil {
			t.Fatal(err)
		}
		st := status.New(c, cond.Condition)
		if cond.Retryable {
			st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
		}
		if got := answerFor(st.Err()); got.status != cond.HTTPStatus {
			t.Errorf("condition %s: HTTP %d; errors.json says %d", cond.Condition, got.status, cond.HTTPStatus)
		}
	}
}

// TestAdmissionDefaults: the auto backstop per CPU and the default queueing budget are errors.json's.
func TestAdmissionDefaults(t *testing.T) {
	table := loadTable(t)
	if want := table.MaxInflightPerCPU; admission.AutoPerCPU != want || want == 0 {
		t.Errorf("admission.AutoPerCPU %d; errors.json max_inflight_per_cpu %d", admission.AutoPerCPU, want)
	}
	if want := time.Duration(table.MaxQueueDelayMS) * time.Millisecond; admission.DefaultQueueDelay != want || want == 0 {
		t.Errorf("admission.DefaultQueueDelay %v; errors.json max_queue_delay_ms %d", admission.DefaultQueueDelay, table.MaxQueueDelayMS)
	}
}

// TestBigBodyBound: the small requests' lane takes bodies up to errors.json's big_body_bytes.
func TestBigBodyBound(t *testing.T) {
	if want := loadTable(t).BigBodyBytes; BigBody != want || want == 0 {
		t.Fatalf("BigBody %d; errors.json big_body_bytes %d", BigBody, want)
	}
}

// TestJSONCostLimits: the digit-run limit is errors.json's, and a body is refused at one digit
// or one value more than the limits, never at the limits.
func TestJSONCostLimits(t *testing.T) {
	if want := loadTable(t).NumberMaxDigits; maxNumberDigits != want || want == 0 {
		t.Fatalf("maxNumberDigits %d; errors.json json_number_max_digits %d", maxNumberDigits, want)
	}
	number := func(digits int) []byte {
		return []byte(`{"model":"m","instances":[{"features":[0.` + strings.Repeat("0", digits-1) + `1]}]}`)
	}
	commas := func(n int) []byte { return []byte(`{"a":[` + strings.Repeat("1,", n) + `1]}`) }
	for _, tc := range []struct {
		name   string
		body   []byte
		bound  int64
		refuse string // substring of the refusal, "" when accepted
	}{
		{"a number of the longest length", number(maxNumberDigits), 0, ""},
		{"a number one digit longer", number(maxNumberDigits + 1), 0, "more than 4300 digits"},
		{"a string of digits one longer", []byte(`{"model":"` + strings.Repeat("7", maxNumberDigits+1) + `"}`), 0, "digits"},
		{"digit runs split by a dot", []byte(`[` + strings.Repeat("1", maxNumberDigits) + `.` + strings.Repeat("1", maxNumberDigits) + `]`), 0, ""},
		{"commas below the bound", commas(99), 100, ""},
		{"commas at the bound", commas(100), 100, "at most 100"},
		{"no bound before the models load", commas(100), 0, ""},
	} {
		err := jsonTooCostly(tc.body, tc.bound)
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refuse != "" && (status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.refuse)):
			t.Errorf("%s: %v; want INVALID_ARGUMENT containing %q", tc.name, err, tc.refuse)
		}
	}
}

func TestRoutesFollowTheContract(t *testing.T) {
	var doc struct {
		Routes []struct {
			Method, Path string
			Allow        []string `json:"allow"`
			ExamplePath  string   `json:"example_path"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(modeltest.ContractFile(t, "routes.json"), &doc); err != nil {
		t.Fatal(err)
	}
	modeltest.InitORT(t)
	core := predictor.New(predictor.Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8})
	if err := core.Load(modeltest.Models(t)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(core, Options{MaxBody: 1 << 20, Metrics: metrics.New()}))
	defer srv.Close()
	call := func(method, path string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
	for _, route := range doc.Routes {
		for _, m := range methods {
			resp := call(m, route.ExamplePath)
			if slices.Contains(route.Allow, m) {
				if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
					t.Errorf("%s %s: %d; routes.json says the route answers %v", m, route.ExamplePath, resp.StatusCode, route.Allow)
				}
				continue
			}
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != strings.Join(route.Allow, ", ") {
				t.Errorf("%s %s: %d Allow %q; routes.json says 405 with Allow %q", m, route.ExamplePath, resp.StatusCode,
					resp.Header.Get("Allow"), strings.Join(route.Allow, ", "))
			}
		}
	}
	if resp := call("GET", "/v1/no-such-route"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown path: %d, want 404", resp.StatusCode)
	}
}
