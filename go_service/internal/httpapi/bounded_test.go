package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestErrorsDoNotEchoInput: what the client sent is quoted short in an error, so a huge model
// name, number or path gives a small answer.
func TestErrorsDoNotEchoInput(t *testing.T) {
	srv := server(t)
	hugeName := strings.Repeat("a", 1<<20)
	longNumber := strings.Repeat("9", 4300) // the longest a body may hold; protojson's error quotes it
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"model name", "POST", "/v1/predict", `{"model":"` + hugeName + `","instances":[{"features":[1,2,3,4]}]}`, 404,
			`unknown model "` + strings.Repeat("a", 64) + `…" (1048576 bytes)`},
		{"model name in the path", "GET", "/v1/models/" + hugeName[:64*1024], "", 404, "(65536 bytes)"},
		{"JSON number", "POST", "/v1/predict", `{"model":"iris-logreg","instances":[{"features":[` + longNumber + `,1,2,3]}]}`, 400, "invalid JSON body"},
		{"JSON number over the digit limit", "POST", "/v1/predict", `{"model":"iris-logreg","instances":[{"features":[` + strings.Repeat("1", testMaxBody-100) + `,1,2,3]}]}`, 400, "more than 4300 digits"},
		{"unknown path", "GET", "/" + hugeName[:64*1024], "", 404, "(65537 bytes)"},
		{"method on a long path", "PUT", "/v1/models/" + hugeName[:64*1024], "", 405, "bytes)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var body struct{ Message string }
			if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != tc.status {
				t.Fatalf("%d %.200q: %v; want %d", resp.StatusCode, raw, err, tc.status)
			}
			if len(raw) > 1024 || utf8.RuneCountInString(body.Message) > 256 || !strings.Contains(body.Message, tc.contains) {
				t.Fatalf("answer of %d bytes, message %q; want a short message containing %q", len(raw), body.Message, tc.contains)
			}
		})
	}
}
