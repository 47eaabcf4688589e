package httpapi

import (
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
)

// This file lends predict.v1's HTTP rules to the other HTTP adapter on the same server (the Open
// Inference Protocol's, v2http), so that each rule lives once: how a body is read and refused, the
// cost bound on a JSON body, and the error table's code → status.

// ReadBody reads a request body as POST /v1/predict does: more than maxBody bytes is
// RESOURCE_EXHAUSTED (413, the connection closed after a bounded drain), none is
// INVALID_ARGUMENT, a body that cannot be read is INVALID_ARGUMENT with the connection closed, and
// a read deadline passing is returned as the net.Error it is (408).
func ReadBody(w http.ResponseWriter, r *http.Request, maxBody int64) ([]byte, error) {
	return (&handler{maxBody: maxBody}).readBody(w, r)
}

// JSONTooCostly refuses, before decoding, a JSON body with at least bound commas (bound > 0) or a
// run of more than json_number_max_digits digits (errors.json too_many_values, number_too_long).
func JSONTooCostly(body []byte, bound int64) error {
	return jsonTooCostly(body, bound)
}

// Answer is how an HTTP adapter answers a core error.
type Answer struct {
	Status     int
	Code       codes.Code
	Message    string
	RetryAfter time.Duration // > 0: answer a Retry-After header
}

// AnswerFor maps a core error (a gRPC status, possibly with google.rpc.RetryInfo) to its HTTP
// answer by the error table's rule; a code outside it is 500 INTERNAL "internal error".
func AnswerFor(err error) Answer {
	a := answerFor(err)
	return Answer{Status: a.status, Code: a.code, Message: a.message, RetryAfter: a.retryAfter}
}
