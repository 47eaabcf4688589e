package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/coretest"
	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

// blockingCore is a loaded core with --max-inflight bound (and as many run slots) whose inference
// waits, once entered, for a value on release or its closing.
func blockingCore(t *testing.T, bound int) (core *predictor.Predictor, entered <-chan struct{}, release chan struct{}) {
	t.Helper()
	modeltest.InitORT(t)
	in := make(chan struct{}, 16)
	release = make(chan struct{})
	core = predictor.New(predictor.Options{
		IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8, MaxInflight: bound, MaxRuns: bound,
		BeforeRun: func() { in <- struct{}{}; <-release },
	})
	if err := core.Load(modeltest.Only(t, "iris-logreg")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	return core, in, release
}

// TestAdmission: with --max-inflight 2 and both requests stuck in inference, a third is answered
// at once with 503, Retry-After: 1 and code 8, its body read so the connection stays usable;
// once the load ends the same connection predicts again.
func TestAdmission(t *testing.T) {
	core, entered, release := blockingCore(t, 2)
	srv := httptest.NewServer(httpapi.New(core, httpapi.Options{MaxBody: testMaxBody}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := srv.Client().Post(srv.URL+"/v1/predict", "application/json", strings.NewReader(irisSetosa))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("an admitted request: %v %v", resp, err)
				return
			}
			resp.Body.Close()
		}()
	}
	for range 2 {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("the first two requests never reached inference")
		}
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	send := func() (*http.Response, string) {
		t.Helper()
		fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(irisSetosa), irisSetosa)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	start := time.Now()
	resp, body := send()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(body, `"code":8`) || !strings.Contains(body, "--max-inflight 2") {
		t.Fatalf("third request: %d Retry-After %q %s; want 503, Retry-After 1, code 8", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("refused after %v; want at once", took)
	}
	if resp.Close {
		t.Fatal("the refusal closed the connection; its body was small enough to read")
	}

	close(release)
	wg.Wait()
	if resp, body := send(); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the load, same connection: %d %s", resp.StatusCode, body)
	}
}

// TestTricklingBodiesHoldNoSlot: clients still sending their bodies are not admitted yet, so with
// --max-inflight 2 and three of them trickling, a normal request is answered at once.
func TestTricklingBodiesHoldNoSlot(t *testing.T) {
	modeltest.InitORT(t)
	core := predictor.New(predictor.Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8, MaxInflight: 2, MaxRuns: 2})
	if err := core.Load(modeltest.Only(t, "iris-logreg")); err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	srv := httptest.NewServer(httpapi.New(core, httpapi.Options{MaxBody: testMaxBody}))
	defer srv.Close()
	for range 3 {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			len(irisSetosa), irisSetosa[:5]) // the rest never comes
	}
	time.Sleep(100 * time.Millisecond)
	resp, err := srv.Client().Post(srv.URL+"/v1/predict", "application/json", strings.NewReader(irisSetosa))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("a normal request beside 3 trickling bodies: %d %s", resp.StatusCode, body)
	}
}

// postPredict posts a JSON body to srv's /v1/predict and sends the answer's status (-1: none) to
// statuses.
func postPredict(srv *httptest.Server, body string, statuses chan<- int) {
	resp, err := srv.Client().Post(srv.URL+"/v1/predict", "application/json", strings.NewReader(body))
	if err != nil {
		statuses <- -1
		return
	}
	resp.Body.Close()
	statuses <- resp.StatusCode
}

// inference waits for a request to reach blockingCore's inference, failing the test with what
// after 10 s.
func inference(t *testing.T, entered <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

// oneSlotLanes are the adapter's options with one work slot in each lane.
func oneSlotLanes() httpapi.Options {
	return httpapi.Options{MaxBody: testMaxBody, Small: admission.NewLane("http", 1), Big: admission.NewLane("http-big", 1)}
}

// TestWorkSlots: with one work slot, an admitted request waits while another does its CPU work
// (here, held in inference), and is served once the slot frees: neither refused nor run beside it.
func TestWorkSlots(t *testing.T) {
	core, entered, release := blockingCore(t, 4)
	srv := httptest.NewServer(httpapi.New(core, oneSlotLanes()))
	t.Cleanup(srv.Close)
	// Cleanups run last first: a failed test leaves no run blocked when the server closes.
	t.Cleanup(func() { close(release) })
	statuses := make(chan int, 2)
	for range 2 {
		go postPredict(srv, irisSetosa, statuses)
	}
	inference(t, entered, "no request reached inference")
	coretest.NoInference(t, entered, "two requests in inference at once with one work slot")
	release <- struct{}{}
	inference(t, entered, "the second request never reached inference once the first was done")
	release <- struct{}{}
	for range 2 {
		if s := <-statuses; s != http.StatusOK {
			t.Errorf("status %d; want 200 for both", s)
		}
	}
}

// TestBigBodyLane: with one work slot per lane, a request whose body is over BigBody does its work
// beside a small one (both reach inference at once), and a second big one waits for the first.
func TestBigBodyLane(t *testing.T) {
	core, entered, release := blockingCore(t, 4)
	srv := httptest.NewServer(httpapi.New(core, oneSlotLanes()))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })                     // first, as in TestWorkSlots
	big := irisSetosa + strings.Repeat(" ", httpapi.BigBody) // valid JSON, one byte over
	statuses := make(chan int, 3)
	go postPredict(srv, big, statuses)
	inference(t, entered, "the big request never reached inference")
	go postPredict(srv, irisSetosa, statuses)
	inference(t, entered, "the small request waited for the big one's work slot")
	go postPredict(srv, big, statuses)
	coretest.NoInference(t, entered, "two big requests in inference at once with one work slot")
	release <- struct{}{}
	release <- struct{}{}
	inference(t, entered, "the second big request never reached inference once the first was done")
	release <- struct{}{}
	for range 3 {
		if s := <-statuses; s != http.StatusOK {
			t.Errorf("status %d; want 200 for all three", s)
		}
	}
}
