package metrics

import (
	"testing"

	"google.golang.org/grpc/codes"
)

func TestCodeNamesAreTheCanonicalOnes(t *testing.T) {
	for c := range codes.Code(numCodes) {
		var got codes.Code
		if err := got.UnmarshalJSON([]byte(`"` + codeNames[c] + `"`)); err != nil || got != c {
			t.Errorf("code %v is labelled %q", c, codeNames[c])
		}
	}
}
