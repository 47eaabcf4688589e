package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	predictv1 "servebench/go_service/gen/predict/v1"
)

// TestPredictProtobuf: both request encodings in, both answer encodings out, picked by
// Content-Type and Accept.
func TestPredictProtobuf(t *testing.T) {
	srv := server(t)
	req := &predictv1.PredictRequest{Model: "iris-logreg", Instances: []*predictv1.Instance{{Features: []float32{5.1, 3.5, 1.4, 0.2}}}}
	binary, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	const pb, js = "application/x-protobuf", "application/json"
	tests := []struct {
		name, contentType, accept string
		body                      []byte
		wantType                  string
	}{
		{"json in, json out", js, "", []byte(irisSetosa), js},
		{"protobuf in, json out", pb, "", binary, js},
		{"protobuf in, protobuf out", pb, pb, binary, pb},
		{"json in, protobuf out", js, pb, []byte(irisSetosa), pb},
		{"content type parameters", pb + "; charset=binary", pb, binary, pb},
		{"accept any", pb, "*/*", binary, js},
		{"accept protobuf over any", pb, pb + ", */*;q=0.8", binary, pb},
		{"accept json preferred", pb, pb + ";q=0.5, " + js, binary, js},
		{"accept protobuf preferred", js, js + ";q=0.5, " + pb, []byte(irisSetosa), pb},
		{"accept equal q-values", js, js + ", " + pb, []byte(irisSetosa), pb},
		{"accept something else", js, "text/html", []byte(irisSetosa), js},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			httpReq, _ := http.NewRequest("POST", srv.URL+"/v1/predict", bytes.NewReader(tc.body))
			httpReq.Header.Set("Content-Type", tc.contentType)
			if tc.accept != "" {
				httpReq.Header.Set("Accept", tc.accept)
			}
			resp, err := srv.Client().Do(httpReq)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.wantType {
				t.Fatalf("status %d, Content-Type %q, body %q; want 200 %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw, tc.wantType)
			}
			got := &predictv1.PredictResponse{}
			if tc.wantType == pb {
				err = proto.Unmarshal(raw, got)
			} else {
				err = protojson.Unmarshal(raw, got)
			}
			if err != nil || got.GetModel() != "iris-logreg" || got.GetPredictions()[0].GetLabel() != "setosa" {
				t.Fatalf("answer %v, %v", got, err)
			}
		})
	}
}

// TestPredictProtobufErrors: error answers are JSON whatever Accept says.
func TestPredictProtobufErrors(t *testing.T) {
	srv := server(t)
	unknown, _ := proto.Marshal(&predictv1.PredictRequest{Model: "nope", Instances: []*predictv1.Instance{{Features: []float32{1}}}})
	noRows, _ := proto.Marshal(&predictv1.PredictRequest{Model: "iris-logreg"})
	badUTF8, _ := proto.Marshal(&predictv1.PredictRequest{Model: "iris-logreg"})
	badUTF8 = append(badUTF8, 0x0a, 0x01, 0xff) // field 1 again: a string of one invalid byte
	tests := []struct {
		name, contentType string
		body              []byte
		status, code      int
		contains          string
	}{
		{"malformed protobuf", "application/x-protobuf", []byte{0xff, 0xff, 0xff}, 400, 3, "invalid protobuf body"},
		{"invalid UTF-8 in a string", "application/x-protobuf", badUTF8, 400, 3, "invalid protobuf body"},
		{"empty protobuf body", "application/x-protobuf", nil, 400, 3, "empty"},
		{"no instances", "application/x-protobuf", noRows, 400, 3, "no instances"},
		{"unknown model", "application/x-protobuf", unknown, 404, 5, "unknown model"},
		{"malformed JSON", "application/json", []byte(`{"model":`), 400, 3, "invalid JSON body"},
		{"unsupported media type", "application/xml", []byte(`<x/>`), 415, 12, "application/json or application/x-protobuf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/predict", bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set("Accept", "application/x-protobuf")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(raw, &body) != nil {
				t.Fatalf("Content-Type %q body %q; want a JSON error", resp.Header.Get("Content-Type"), raw)
			}
			if resp.StatusCode != tc.status || body.Code != tc.code || !strings.Contains(body.Message, tc.contains) {
				t.Fatalf("got %d %+v; want %d code %d containing %q", resp.StatusCode, body, tc.status, tc.code, tc.contains)
			}
		})
	}
}
