package httpapi

import "testing"

func TestAcceptsProtobuf(t *testing.T) {
	tests := []struct {
		name   string
		accept []string
		want   bool
	}{
		{"absent", nil, false},
		{"protobuf", []string{"application/x-protobuf"}, true},
		{"json", []string{"application/json"}, false},
		{"any", []string{"*/*"}, false},
		{"application wildcard", []string{"application/*"}, false},
		{"protobuf and any", []string{"application/x-protobuf, */*;q=0.1"}, true},
		{"case-insensitive with spaces", []string{" Application/X-Protobuf ; q=1"}, true},
		{"equal q-values", []string{"application/json, application/x-protobuf"}, true},
		{"json preferred", []string{"application/x-protobuf;q=0.5, application/json"}, false},
		{"protobuf preferred", []string{"application/json;q=0.9, application/x-protobuf"}, true},
		{"protobuf q=0", []string{"application/x-protobuf;q=0"}, false},
		{"json absent, protobuf low", []string{"application/x-protobuf;q=0.1, text/html"}, true},
		{"several header lines", []string{"application/json;q=0.2", "application/x-protobuf;q=0.3"}, true},
		{"unparsable element ignored", []string{"application/x-protobuf;;;=, application/json"}, false},
		{"bad q-value ignored", []string{"application/x-protobuf;q=2"}, false},
		{"empty", []string{""}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := acceptsProtobuf(tc.accept); got != tc.want {
				t.Fatalf("acceptsProtobuf(%q) = %v; want %v", tc.accept, got, tc.want)
			}
		})
	}
}

func TestRequestIsProtobuf(t *testing.T) {
	tests := []struct {
		contentType      string
		isProtobuf, isOK bool
	}{
		{"application/json", false, true},
		{"application/json; charset=utf-8", false, true},
		{"Application/JSON", false, true},
		{"application/x-protobuf", true, true},
		{"application/x-protobuf; proto=predict.v1.PredictRequest", true, true},
		{"application/protobuf", false, false},
		{"text/plain", false, false},
		{"", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.contentType, func(t *testing.T) {
			isProtobuf, ok := requestIsProtobuf(tc.contentType)
			if isProtobuf != tc.isProtobuf || ok != tc.isOK {
				t.Fatalf("requestIsProtobuf(%q) = %v, %v; want %v, %v", tc.contentType, isProtobuf, ok, tc.isProtobuf, tc.isOK)
			}
		})
	}
}
