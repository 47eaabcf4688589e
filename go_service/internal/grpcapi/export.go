package grpcapi

import "context"

// This file lends predict.v1's gRPC rules to the other gRPC adapter on the same server (the Open
// Inference Protocol's, v2grpc), so that each rule lives once.

// Connection names the HTTP/2 connection a call came on, for admission's per-connection share
// (see connection).
func Connection(ctx context.Context) any { return connection(ctx) }

// Capped caps a status error's message at clip.MessageMaxRunes characters, keeping its code and
// details.
func Capped(err error) error { return capped(err) }
