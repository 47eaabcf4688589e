// Command netproxy is the bench's delay emulator where the kernel has no netem: a TCP proxy that
// delivers every byte a fixed one-way delay after it arrived, in each direction, so that a client
// sees the round-trip time of a network profile (bench/README.md, "Across a network", says why
// this and not Toxiproxy; bandwidth is the kernel's tbf, on the bench's namespace link).
//
//	netproxy -control 127.0.0.1:0 -route NAME=LISTEN,UPSTREAM,DELAY ...
//
// Each route listens on LISTEN (port 0 picks one) and forwards every connection to UPSTREAM; it
// prints "netproxy: route NAME listening on HOST:PORT" (and "netproxy: control listening on
// HOST:PORT"). DELAY is a Go duration, one way: the round trip adds 2×DELAY. Bytes are released
// on time by a timerfd per direction (CLOCK_MONOTONIC, absolute, read through Go's netpoller):
// Go's own timers round sub-millisecond sleeps up to a millisecond. A new connection's first bytes
// wait one round trip more, as a TCP handshake over the emulated network would make them.
//
// GET /stats on the control address answers, per route, the connections accepted, the bytes read
// in each direction (up: client to server) and how late bytes were released (mean and max µs);
// POST /delay with form values routes=NAME,NAME… and delay=DURATION sets those routes' one-way
// delay (the bench calibrates it), for bytes that arrive from then on.
// SIGTERM or SIGINT: exit at once (the bench starts it and kills it; nothing to drain).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type routeFlags []string

func (r *routeFlags) String() string     { return strings.Join(*r, " ") }
func (r *routeFlags) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("netproxy", flag.ContinueOnError)
	control := fs.String("control", "127.0.0.1:0", "address of the stats endpoint (GET /stats)")
	var specs routeFlags
	fs.Var(&specs, "route", "NAME=LISTEN,UPSTREAM,DELAY (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(specs) == 0 {
		fmt.Fprintln(os.Stderr, "netproxy: no -route given")
		return 2
	}
	routes := map[string]*route{}
	for _, spec := range specs {
		r, err := parseRoute(spec)
		if err == nil && routes[r.name] != nil {
			err = fmt.Errorf("route %q given twice", r.name)
		}
		if err == nil {
			err = r.listen()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "netproxy: %v\n", err)
			return 1
		}
		routes[r.name] = r
		fmt.Fprintf(os.Stderr, "netproxy: route %s listening on %s\n", r.name, r.ln.Addr())
	}
	ln, err := net.Listen("tcp", *control)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netproxy: -control: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "netproxy: control listening on %s\n", ln.Addr())
	for _, r := range routes {
		go r.serve()
	}
	go http.Serve(ln, statsHandler(routes))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	return 0
}

// statsHandler answers GET /stats: each route's counts, as JSON.
func statsHandler(routes map[string]*route) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]stats{}
		for name, r := range routes {
			out[name] = r.stats()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"routes": out})
	})
	mux.HandleFunc("POST /delay", func(w http.ResponseWriter, r *http.Request) {
		delay, err := time.ParseDuration(r.FormValue("delay"))
		if err != nil || delay < 0 {
			http.Error(w, "delay: want a duration >= 0", http.StatusBadRequest)
			return
		}
		for _, name := range strings.Split(r.FormValue("routes"), ",") {
			if routes[name] == nil {
				http.Error(w, "no route "+strconv.Quote(name), http.StatusNotFound)
				return
			}
		}
		for _, name := range strings.Split(r.FormValue("routes"), ",") {
			routes[name].delay.Store(int64(delay))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// parseRoute reads NAME=LISTEN,UPSTREAM,DELAY.
func parseRoute(spec string) (*route, error) {
	name, rest, ok := strings.Cut(spec, "=")
	parts := strings.Split(rest, ",")
	if !ok || name == "" || len(parts) != 3 {
		return nil, fmt.Errorf("-route %q: want NAME=LISTEN,UPSTREAM,DELAY", spec)
	}
	delay, err := time.ParseDuration(parts[2])
	if err != nil || delay < 0 {
		return nil, fmt.Errorf("-route %q: delay %q is not a duration >= 0", spec, parts[2])
	}
	r := &route{name: name, listenAddr: parts[0], upstream: parts[1], links: [2]*link{{}, {}}}
	r.delay.Store(int64(delay))
	return r, nil
}

func (r *route) listen() (err error) {
	r.ln, err = net.Listen("tcp", r.listenAddr)
	return err
}

// serve accepts connections until the listener fails.
func (r *route) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(os.Stderr, "netproxy: route %s: %v\n", r.name, err)
			}
			return
		}
		r.conns.Add(1)
		go r.proxy(c.(*net.TCPConn))
	}
}
