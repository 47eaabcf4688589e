// Package clip bounds what an error message may echo of a client's input: a quoted, escaped
// prefix of at most QuoteMaxRunes characters (errors.json message_quote_max_chars), and a whole
// message of at most MessageMaxRunes characters.
package clip

import (
	"strconv"
	"unicode/utf8"
)

const (
	// QuoteMaxRunes is the most characters of client text an error message quotes.
	QuoteMaxRunes = 64
	// MessageMaxRunes is the most characters of an error message.
	MessageMaxRunes = 256
)

const ellipsis = "…"

// Quote returns s quoted with strconv.Quote when it has at most QuoteMaxRunes characters;
// otherwise its first QuoteMaxRunes characters and "…", quoted, followed by s's full length in
// bytes: "aaaa…" (1048576 bytes). An invalid UTF-8 byte counts as one character.
func Quote(s string) string {
	cut, ok := prefix(s, QuoteMaxRunes)
	if ok {
		return strconv.Quote(s)
	}
	return strconv.Quote(cut+ellipsis) + " (" + strconv.Itoa(len(s)) + " bytes)"
}

// Message returns msg unchanged when it has at most MessageMaxRunes characters, else its first
// MessageMaxRunes-1 characters and "…".
func Message(msg string) string {
	if len(msg) <= MessageMaxRunes { // fewer bytes than the cap: certainly short enough
		return msg
	}
	if _, whole := prefix(msg, MessageMaxRunes); whole {
		return msg
	}
	cut, _ := prefix(msg, MessageMaxRunes-1)
	return cut + ellipsis
}

// prefix returns the first n characters of s, and whether that is all of s.
func prefix(s string, n int) (string, bool) {
	i := 0
	for range n {
		if i >= len(s) {
			return s, true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i], i >= len(s)
}
