package metrics

import (
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

// processCollector exports the two process metrics of metrics.json, and no more (client_golang's
// own process collector adds several the Python server has no counterpart for): the CPU seconds
// of the process (getrusage: every thread, microsecond resolution) and its resident memory
// (/proc/self/stat). The Go server is one process, so its own figures are the server's.
type processCollector struct {
	cpu, rss *prometheus.Desc
}

func newProcessCollector() *processCollector {
	return &processCollector{
		cpu: prometheus.NewDesc("process_cpu_seconds_total",
			"User and system CPU seconds used by the whole server: every process of it, its worker processes summed (and those it has reaped), so that a server the bench did not start is measured like one it did.",
			nil, nil),
		rss: prometheus.NewDesc("process_resident_memory_bytes",
			"Resident memory of the whole server in bytes: the sum over every live process of it (its worker processes summed).",
			nil, nil),
	}
}

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cpu
	ch <- c.rss
}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		seconds := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, seconds)
	}
	if p, err := procfs.Self(); err == nil {
		if st, err := p.Stat(); err == nil {
			ch <- prometheus.MustNewConstMetric(c.rss, prometheus.GaugeValue, float64(st.ResidentMemory()))
		}
	}
}
