package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"short", "iris-logreg", `"iris-logreg"`},
		{"escapes", "a\"b\n\x00", `"a\"b\n\x00"`},
		{"exactly the limit", strings.Repeat("a", QuoteMaxRunes), `"` + strings.Repeat("a", QuoteMaxRunes) + `"`},
		{"one over", strings.Repeat("a", QuoteMaxRunes+1), `"` + strings.Repeat("a", QuoteMaxRunes) + `…" (65 bytes)`},
		{"huge", strings.Repeat("a", 1<<20), `"` + strings.Repeat("a", QuoteMaxRunes) + `…" (1048576 bytes)`},
		{"multi-byte characters count once", strings.Repeat("é", QuoteMaxRunes), `"` + strings.Repeat("é", QuoteMaxRunes) + `"`},
		{"cut on a character boundary", strings.Repeat("é", QuoteMaxRunes+1), `"` + strings.Repeat("é", QuoteMaxRunes) + `…" (130 bytes)`},
		{"invalid UTF-8", strings.Repeat("\xff", QuoteMaxRunes+1), `"` + strings.Repeat(`\xff`, QuoteMaxRunes) + `…" (65 bytes)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quote(tc.in); got != tc.want {
				t.Fatalf("Quote = %s; want %s", got, tc.want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantRunes int
		unchanged bool
	}{
		{"short", "no instances", 12, true},
		{"exactly the cap", strings.Repeat("x", MessageMaxRunes), MessageMaxRunes, true},
		{"multi-byte at the cap", strings.Repeat("é", MessageMaxRunes), MessageMaxRunes, true},
		{"over the cap", strings.Repeat("x", MessageMaxRunes+1), MessageMaxRunes, false},
		{"huge", strings.Repeat("é", 1<<20), MessageMaxRunes, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Message(tc.in)
			if n := utf8.RuneCountInString(got); n != tc.wantRunes || (got == tc.in) != tc.unchanged {
				t.Fatalf("Message: %d characters, unchanged %v; want %d, %v", n, got == tc.in, tc.wantRunes, tc.unchanged)
			}
			if !tc.unchanged && !strings.HasSuffix(got, "…") {
				t.Fatalf("a cut message must end with …: %q", got[len(got)-10:])
			}
		})
	}
}
