// Command go_service serves the models/ repository over gRPC and HTTP with ONNX Runtime, in two
// protocols on each listener: predict.v1 and the Open Inference Protocol (V2; wiring.go).
//
//	go_service --models DIR --grpc-addr HOST:PORT --http-addr HOST:PORT [--ort-lib PATH]
//	           [--max-queue-delay D] [--max-inflight N] [--metrics=false | --metrics-addr HOST:PORT]
//	           [--http-*-timeout D] [--tls-cert FILE --tls-key FILE]
//
// (--help lists every flag.) It loads libonnxruntime from --ort-lib (default $ONNXRUNTIME_LIB);
// when neither is set it looks for .venv/lib/python3*/site-packages/onnxruntime/capi/
// libonnxruntime.so.* under the working directory, the executable's directory, and their parents
// (see internal/ortlib). It prints one "<proto> listening on HOST:PORT" line per listener (grpc,
// http, metrics) once bound, becomes ready once every model is loaded, and on SIGTERM/SIGINT
// turns not ready, finishes in-flight requests and exits 0. With --tls-cert and --tls-key every
// listener serves TLS (tls.go): gRPC, HTTP (HTTP/2 and HTTP/1.1 by ALPN) and metrics.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/ortlib"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/repository"
)

const (
	prog         = "go_service"
	drainTimeout = 30 * time.Second // longest wait for in-flight requests at shutdown
)

type config struct {
	models, grpcAddr, httpAddr, metricsAddr, ortLib, logLevel string
	tlsCert, tlsKey                                           string
	intraOp, interOp, maxBatch, maxBody, maxInflight          int
	maxQueueDelay                                             time.Duration
	metrics                                                   bool
	http                                                      httpapi.ServerOptions
	tls                                                       *tls.Config // from tlsCert and tlsKey (nil: plaintext)
}

// maxQueueDelayCap is the largest --max-queue-delay: an hour is already no bound at all.
const maxQueueDelayCap = time.Hour

// endpoint is one listener: what it serves and where (empty: not served).
type endpoint struct {
	proto, addr string
	serve       func(net.Listener) error
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// cpus is how many CPUs predict work may use: the runtime's GOMAXPROCS as the process starts (its
// CPU affinity, or the GOMAXPROCS environment variable). Predict work runs in that many slots per
// work lane (HTTP decode to encode, gRPC's core work) and ONNX Runtime calls, and the auto
// admission backstop is a multiple of it.
var cpus = runtime.GOMAXPROCS(0)

// serveProcs gives the runtime one P more than cpus, unless the GOMAXPROCS environment variable
// sets it, and returns GOMAXPROCS. Go polls the network from a P with nothing else to run, or else
// every 10 ms (sysmon): with GOMAXPROCS = CPUs and the CPUs busy with admitted work, requests that
// arrive meanwhile are read only that often, so under 3× overload their refusals took 3–10 ms
// (median) over HTTP. The P that predict work cannot take polls at once: 2 ms (make
// test-reliability, attack 4).
func serveProcs() int {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(cpus + 1)
	}
	return runtime.GOMAXPROCS(0)
}

// gcPercent is the collector's GOGC unless the GOGC environment variable sets it. The server's
// live heap is ~2 MB (the models live in ONNX Runtime's memory, not Go's), so at Go's default of
// 100 the heap goal sits at the runtime's 4 MB floor, and a busy server's short-lived garbage
// (protojson decoding, mostly) had it collect ~40 times a second, each cycle stopping the world
// twice: at 3× overload (HTTP, 32-row requests, one CPU) 214 collections in 5 s and an admitted
// p99 of 15–16 ms; at 400 (goal ~16 MB), 39 collections and 10–12 ms, with ~30 % more answered.
const gcPercent = 400

// serveGC sets the collector's percent to gcPercent unless the GOGC environment variable sets it,
// and returns the percent in force (as GOGC spells it).
func serveGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(gcPercent)
	return strconv.Itoa(gcPercent)
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.models, "models", "models", "model repository directory")
	fs.StringVar(&c.grpcAddr, "grpc-addr", "127.0.0.1:50052", "gRPC listen address (empty disables gRPC)")
	fs.StringVar(&c.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address (empty disables HTTP)")
	fs.IntVar(&c.intraOp, "intra-op-threads", 1, "ONNX Runtime intra-op threads per session")
	fs.IntVar(&c.interOp, "inter-op-threads", 1, "ONNX Runtime inter-op threads per session")
	fs.IntVar(&c.maxBatch, "max-batch", 1024, "most instances per request")
	fs.IntVar(&c.maxBody, "max-body", 4194304, "largest HTTP body / gRPC message in bytes")
	fs.DurationVar(&c.maxQueueDelay, "max-queue-delay", admission.DefaultQueueDelay, "queueing budget: a predict request (HTTP, gRPC Predict, each PredictStream message) is "+
		"admitted while its expected wait for a work slot (requests waiting ahead of it × recent service time ÷ work slots) stays within it; "+
		"beyond, it is refused at once with RESOURCE_EXHAUSTED (HTTP 503 + Retry-After), so that no client waits longer than this behind others. "+
		"Default: errors.json max_queue_delay_ms. 0 = off (only --max-inflight applies)")
	fs.IntVar(&c.maxInflight, "max-inflight", 0, fmt.Sprintf("memory backstop: most predict requests in progress or queued, whatever their wait; "+
		"more are refused at once like --max-queue-delay's. One gRPC connection holds at most all but one. "+
		"0 = auto: errors.json max_inflight_per_cpu (%d) × the CPUs (here %d: %d)",
		admission.AutoPerCPU, cpus, admission.Resolve(0, cpus)))
	fs.BoolVar(&c.metrics, "metrics", true, "record Prometheus metrics and serve them at GET /metrics (false: no recording, /metrics is 404)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "also serve /metrics on this HOST:PORT (needed when --http-addr is empty)")
	fs.DurationVar(&c.http.ReadHeaderTimeout, "http-read-header-timeout", 5*time.Second, "HTTP: longest time to read a request head")
	fs.DurationVar(&c.http.ReadTimeout, "http-read-timeout", 30*time.Second, "HTTP: longest time to read a whole request, body included")
	fs.DurationVar(&c.http.WriteTimeout, "http-write-timeout", 30*time.Second, "HTTP: longest time from the end of a request head to the end of its answer")
	fs.DurationVar(&c.http.IdleTimeout, "http-idle-timeout", 60*time.Second, "HTTP: how long a keep-alive connection waits for its next request")
	fs.IntVar(&c.http.MaxHeaderBytes, "http-max-header-bytes", 16384, "HTTP: largest request head in bytes (net/http allows 4096 more); larger gets 431 and a closed connection")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warning, error or critical")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve TLS on every listener with; needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.ortLib, "ort-lib", os.Getenv(ortlib.EnvVar), "path to libonnxruntime (env "+ortlib.EnvVar+"; default: the .venv onnxruntime wheel's)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case c.grpcAddr == "" && c.httpAddr == "":
		return c, errors.New("--grpc-addr and --http-addr are both empty: nothing to serve")
	case c.maxBatch < 1 || c.maxBody < 1 || c.http.MaxHeaderBytes < 1:
		return c, errors.New("--max-batch, --max-body and --http-max-header-bytes must be positive")
	case c.maxInflight < 0:
		return c, errors.New("--max-inflight must be >= 0 (0 is auto)")
	case c.maxQueueDelay < 0 || c.maxQueueDelay > maxQueueDelayCap:
		return c, fmt.Errorf("--max-queue-delay must be between 0 (off) and %v", maxQueueDelayCap)
	case c.intraOp < 0 || c.interOp < 0:
		return c, errors.New("thread counts must be >= 0 (0 lets ONNX Runtime choose)")
	case c.http.ReadHeaderTimeout < 0 || c.http.ReadTimeout < 0 || c.http.WriteTimeout < 0 || c.http.IdleTimeout < 0:
		return c, errors.New("--http-*-timeout must be >= 0 (0 is no limit)")
	case c.metricsAddr != "" && !c.metrics:
		return c, errors.New("--metrics-addr needs --metrics")
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return c, errors.New("--tls-cert and --tls-key go together")
	}
	return c, nil
}

func run(args []string, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return fail(err)
	}
	level, err := parseLevel(cfg.logLevel)
	if err != nil {
		return fail(err)
	}
	if cfg.tls, err = serverTLS(cfg.tlsCert, cfg.tlsKey); err != nil {
		return fail(err)
	}
	cfg.http.TLS = cfg.tls
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	models, err := repository.Load(cfg.models, logger)
	if err != nil {
		return fail(err)
	}
	lib, err := ortlib.Locate(cfg.ortLib)
	if err != nil {
		return fail(err)
	}
	if err := ortlib.Init(lib); err != nil {
		return fail(err)
	}
	procs, gogc := serveProcs(), serveGC()
	core := predictor.New(predictor.Options{
		IntraOpThreads: cfg.intraOp, InterOpThreads: cfg.interOp, MaxBatch: cfg.maxBatch, MaxInflight: cfg.maxInflight,
		MaxQueueDelay: cfg.maxQueueDelay, CPUs: cpus, Logger: logger,
	})
	// The work lanes admission judges requests by (see internal/admission): HTTP bodies up to
	// big_body_bytes, bigger ones, and gRPC messages, each with a slot per CPU.
	lanes := []*admission.Lane{admission.NewLane("http", cpus), admission.NewLane("http-big", cpus), admission.NewLane("grpc", cpus)}
	for _, lane := range lanes {
		lane.WithBudget(core.MaxQueueDelay())
	}
	var m *metrics.Metrics
	if cfg.metrics {
		m = metrics.New()
	}

	grpcSrv, health := newGRPC(core, cfg, m, lanes[2])
	httpSrv := httpapi.NewServer(newHTTP(core, cfg, m, lanes[0], lanes[1]), cfg.http)
	httpSrvs := []*httpapi.Server{httpSrv}
	endpoints := []endpoint{{"grpc", cfg.grpcAddr, grpcSrv.Serve}, {"http", cfg.httpAddr, httpSrv.Serve}}
	if cfg.metricsAddr != "" {
		metricsSrv := httpapi.NewServer(httpapi.MetricsHandler(m), cfg.http)
		httpSrvs = append(httpSrvs, metricsSrv)
		endpoints = append(endpoints, endpoint{"metrics", cfg.metricsAddr, metricsSrv.Serve})
	}
	stopAll := func() {
		grpcSrv.Stop()
		for _, s := range httpSrvs {
			s.Close()
		}
	}
	serveErr := make(chan error, len(endpoints))
	for _, e := range endpoints {
		if e.addr == "" {
			continue
		}
		ln, err := listen(stderr, e.proto, e.addr)
		if err != nil {
			stopAll()
			return fail(err)
		}
		go func() { serveErr <- e.serve(ln) }()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := core.Load(models); err != nil {
		stopAll()
		return fail(err)
	}
	grpcapi.SetServing(health, true)
	logger.Info("ready", "models", len(core.Names()), "lib", lib, "max_queue_delay", core.MaxQueueDelay(),
		"max_inflight", core.MaxInflight(), "cpus", cpus, "gomaxprocs", procs, "gogc", gogc, "metrics", cfg.metrics,
		"tls", cfg.tls != nil)

	select {
	case <-ctx.Done():
		logger.Info("shutting down: finishing in-flight requests")
	case err := <-serveErr:
		stopAll()
		return fail(fmt.Errorf("server stopped: %w", err))
	}
	core.Drain()
	health.Shutdown() // every service NOT_SERVING
	if shutdown(grpcSrv, httpSrvs) {
		// Every handler has returned, so no Run can still use a session.
		core.Close()
		ortlib.Close()
	}
	logLanes(logger, lanes)
	return 0
}

// parseLevel accepts the Python service's level names (debug, info, warning, error, critical)
// and slog's own (warn).
func parseLevel(name string) (slog.Level, error) {
	switch strings.ToLower(name) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error", "critical":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: want debug, info, warning, error or critical", name)
}

// listen binds addr (port 0 picks a free port) and prints the one line harnesses wait for.
func listen(stderr io.Writer, proto, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", proto, err)
	}
	fmt.Fprintf(stderr, "%s: %s listening on %s\n", prog, proto, ln.Addr())
	return ln, nil
}

// shutdown stops accepting and waits up to drainTimeout for in-flight requests on every server;
// it reports whether they all finished (false: connections were cut after the timeout).
func shutdown(grpcSrv *grpc.Server, httpSrvs []*httpapi.Server) bool {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	grpcDone := make(chan struct{})
	go func() { grpcSrv.GracefulStop(); close(grpcDone) }()
	clean := true
	for _, s := range httpSrvs {
		if err := s.Shutdown(ctx); err != nil {
			s.Close()
			clean = false
		}
	}
	select {
	case <-grpcDone:
	case <-ctx.Done():
		grpcSrv.Stop()
		<-grpcDone
		clean = false
	}
	return clean
}

// logLanes logs each work lane's figures at shutdown, one line each: its service time now, and the
// longest expected wait of a request it admitted and the longest wait for a slot it saw, which
// show how close the load came to --max-queue-delay.
func logLanes(logger *slog.Logger, lanes []*admission.Lane) {
	for _, l := range lanes {
		st := l.Stats()
		logger.Info("admission lane", "lane", st.Name, "slots", st.Slots, "service_time", st.ServiceTime,
			"worst_expected_wait", st.WorstExpected, "worst_slot_wait", st.WorstWait)
	}
}
