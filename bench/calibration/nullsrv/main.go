// nullsrv: a trivial gRPC + HTTP server that does no work, to measure the load generator's own floor.
// gRPC: every unary call on any method gets an empty message (grpc.UnknownServiceHandler).
// HTTP: every request gets a constant small JSON body.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

func main() {
	gaddr := flag.String("grpc-addr", "127.0.0.1:0", "")
	haddr := flag.String("http-addr", "127.0.0.1:0", "")
	flag.Parse()
	gl, err := net.Listen("tcp", *gaddr)
	if err != nil {
		panic(err)
	}
	hl, err := net.Listen("tcp", *haddr)
	if err != nil {
		panic(err)
	}
	s := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
		var in emptypb.Empty
		if err := st.RecvMsg(&in); err != nil {
			return err
		}
		return st.SendMsg(&emptypb.Empty{})
	}))
	body := []byte(`{"model":"iris-logreg","predictions":[{"label":"0","class_index":0}]}`)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	fmt.Fprintf(os.Stderr, "grpc listening on %s\n", gl.Addr())
	fmt.Fprintf(os.Stderr, "http listening on %s\n", hl.Addr())
	go http.Serve(hl, mux)
	if err := s.Serve(gl); err != nil {
		panic(err)
	}
}
