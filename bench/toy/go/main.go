// Command toy is the seed post's Go server: net/http answering a constant string on GET /predict.
//
// Kept as the post wrote it (http.HandleFunc + the default mux); the only additions are the -addr
// flag (port 0 picks a free port) and the servebench "http listening on ADDR" line on stderr.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func predict(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(w, "Prediction: Iris-Setosa")
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	flag.Parse()
	http.HandleFunc("/predict", predict)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "toy: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "toy: http listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
