// Command toy is the seed post's Go server: net/http answering a constant string on GET /predict.
//
// Kept as the post wrote it (http.HandleFunc + the default mux); the only additions are the -addr
// flag (port 0 picks a free port), the servebench "http listening on ADDR" line on stderr, and
// -grpc-addr: a null gRPC server (every message of any call, unary or stream, answered at once with
// an empty message, also a valid empty PredictResponse, never parsed) that the bench uses as the
// grpc-go floor and to measure its load generators' own latency floor.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

func predict(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(w, "Prediction: Iris-Setosa")
}

// rawCodec hands the message bytes through untouched: the null server never decodes them.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// answerEmpty is the null server's handler for every method: each message read is answered with
// an empty one, until the client ends its side (a unary call: after its one message).
func answerEmpty(_ any, stream grpc.ServerStream) error {
	var in []byte
	out := []byte{}
	for {
		if err := stream.RecvMsg(&in); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := stream.SendMsg(&out); err != nil {
			return err
		}
	}
}

func listen(proto, addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "toy: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "toy: %s listening on %s\n", proto, ln.Addr())
	return ln
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	grpcAddr := flag.String("grpc-addr", "", "also serve the null gRPC server here (empty: no gRPC)")
	flag.Parse()
	if *grpcAddr != "" {
		srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(answerEmpty))
		ln := listen("grpc", *grpcAddr)
		go func() { log.Fatal(srv.Serve(ln)) }()
	}
	http.HandleFunc("/predict", predict)
	log.Fatal(http.Serve(listen("http", *addr), nil))
}
