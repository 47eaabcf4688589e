package httpapi_test

// Admission by queueing time over HTTP, on a core whose inference blocks: a burst is admitted up
// to the lane's time rule and refused beyond it; a request whose client goes away while queued is
// dropped without inference.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/coretest"
	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/metrics"
)

// TestAdmissionByQueueingTime: N requests at once into a lane of `slots` slots whose service time
// is S (inference blocked, so none leaves): admitted while the expected wait, the requests waiting
// ahead × S ÷ slots, is within the target, admission.QueueTarget of the budget (slots +
// ⌊target × slots ÷ S⌋ + 1 of them: those at work, and those whose wait is within it), the rest
// refused at once with 503, Retry-After and the rule's name; with the budget off, all of them.
func TestAdmissionByQueueingTime(t *testing.T) {
	tests := []struct {
		name            string
		slots, n        int
		service, budget time.Duration
		admitted        int
	}{
		{"one slot", 1, 8, 100 * time.Millisecond, 600 * time.Millisecond, 5},
		{"two slots", 2, 12, 100 * time.Millisecond, 600 * time.Millisecond, 9},
		{"budget off", 1, 8, 100 * time.Millisecond, 0, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, _, release := coretest.TimedCore(t, tc.budget, tc.slots)
			lane := admission.NewLane("http", tc.slots)
			lane.Observe(tc.service)
			srv := httptest.NewServer(httpapi.New(core, httpapi.Options{MaxBody: testMaxBody, Small: lane}))
			t.Cleanup(srv.Close)
			free := sync.OnceFunc(func() { close(release) })
			t.Cleanup(free) // before srv.Close, which waits for the handlers
			var refused atomic.Int64
			var wg sync.WaitGroup
			statuses := make(chan string, tc.n)
			for range tc.n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := srv.Client().Post(srv.URL+"/v1/predict", "application/json", strings.NewReader(irisSetosa))
					if err != nil {
						statuses <- err.Error()
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusServiceUnavailable {
						refused.Add(1)
						if resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "--max-queue-delay") {
							statuses <- fmt.Sprintf("refusal without Retry-After 1 or the rule: %q %s", resp.Header.Get("Retry-After"), body)
							return
						}
					}
					statuses <- fmt.Sprint(resp.StatusCode)
				}()
			}
			coretest.Await(t, "the requests were neither all admitted nor refused", func() bool {
				return lane.Held()+int(refused.Load()) == tc.n
			})
			free()
			wg.Wait()
			close(statuses)
			counts := map[string]int{}
			for s := range statuses {
				counts[s]++
			}
			want := map[string]int{"200": tc.admitted, "503": tc.n - tc.admitted}
			for k, v := range counts {
				if want[k] != v {
					t.Fatalf("answers %v; want %v", counts, want)
				}
			}
		})
	}
}

// TestClientGoneWhileQueued: a request whose client closes its connection while the request waits
// for a work slot is dropped without inference, counted CANCELLED, and its place given back.
func TestClientGoneWhileQueued(t *testing.T) {
	core, entered, release := coretest.TimedCore(t, time.Second, 1)
	lane := admission.NewLane("http", 1)
	m := metrics.New()
	srv := httptest.NewServer(httpapi.New(core, httpapi.Options{MaxBody: testMaxBody, Small: lane, Metrics: m}))
	t.Cleanup(srv.Close)
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free) // before srv.Close, which waits for the handlers
	first := make(chan int, 1)
	go postPredict(srv, irisSetosa, first)
	inference(t, entered, "the first request never reached inference")

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(irisSetosa), irisSetosa)
	coretest.Await(t, "the second request was not queued", func() bool { return lane.Held() == 2 })
	conn.Close()
	coretest.Await(t, "the gone client's request still holds its place", func() bool { return lane.Held() == 1 })
	coretest.NoInference(t, entered, "the gone client's request reached inference")
	if got := requests(t, m, "http", "CANCELLED"); got != 1 {
		t.Fatalf("%v requests counted CANCELLED; want 1", got)
	}
	free()
	if s := <-first; s != http.StatusOK {
		t.Fatalf("the first request: %d; want 200", s)
	}
}

// requests is the value of servebench_requests_total for Predict with the protocol and code.
func requests(t *testing.T, m *metrics.Metrics, protocol, code string) float64 {
	t.Helper()
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "servebench_requests_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["protocol"] == protocol && labels["method"] == "Predict" && labels["code"] == code {
				return metric.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no servebench_requests_total{protocol=%q,method=\"Predict\",code=%q}", protocol, code)
	return 0
}
