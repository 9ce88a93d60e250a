package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the Prometheus metrics of one server (docs/OPERATIONS.md lists
// them). Each Server has its own registry so tests can run many servers.
type metrics struct {
	reg *prometheus.Registry

	connections     prometheus.Gauge
	streamsOpened   prometheus.Counter
	sends           *prometheus.CounterVec // result
	copies          prometheus.Counter
	deliveries      prometheus.Counter
	acks            prometheus.Counter
	rateLimited     *prometheus.CounterVec // kind
	sendLatency     prometheus.Histogram
	deliveryLatency prometheus.Histogram
	backlog         prometheus.Histogram
	inflight        prometheus.Gauge
	expired         prometheus.Counter
	blobBytes       *prometheus.CounterVec // direction
	rpcs            *prometheus.CounterVec // procedure, code
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ward_stream_connections", Help: "Open delivery streams (WebSocket connections)."})
	m.streamsOpened = prometheus.NewCounter(prometheus.CounterOpts{Name: "ward_stream_opened_total", Help: "Delivery streams opened."})
	m.sends = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ward_sends_total", Help: "Send calls by result (ok, duplicate, or the error code)."}, []string{"result"})
	m.copies = prometheus.NewCounter(prometheus.CounterOpts{Name: "ward_send_copies_total", Help: "Device copies enqueued."})
	m.deliveries = prometheus.NewCounter(prometheus.CounterOpts{Name: "ward_deliveries_total", Help: "Queue entries pushed to devices (redeliveries included)."})
	m.acks = prometheus.NewCounter(prometheus.CounterOpts{Name: "ward_acked_entries_total", Help: "Queue entries deleted after a device acknowledged them."})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ward_rate_limited_total", Help: "Requests refused by a rate limit, by kind (account, address)."}, []string{"kind"})
	m.sendLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ward_send_latency_seconds", Help: "Send call duration, validation to durable commit.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m.deliveryLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ward_delivery_latency_seconds", Help: "Server timestamp of a message to the moment its copy is written to the device's stream.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 20)})
	m.backlog = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ward_queue_depth_on_connect", Help: "Queue depth of a device when its stream opens.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ward_stream_unacked_entries", Help: "Entries pushed to open streams and not yet acknowledged."})
	m.expired = prometheus.NewCounter(prometheus.CounterOpts{Name: "ward_queue_expired_total", Help: "Queue entries deleted by the TTL sweeper."})
	m.blobBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ward_blob_bytes_total", Help: "Attachment bytes by direction (upload, download)."}, []string{"direction"})
	m.rpcs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ward_rpc_total", Help: "Connect calls by procedure and code."}, []string{"procedure", "code"})
	for _, c := range []prometheus.Collector{m.connections, m.streamsOpened, m.sends, m.copies, m.deliveries, m.acks, m.rateLimited, m.sendLatency, m.deliveryLatency, m.backlog, m.inflight, m.expired, m.blobBytes, m.rpcs} {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
