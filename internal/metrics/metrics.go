package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collectors every part of maintpage reports to.
type Metrics struct {
	// Responses counts maintenance responses by status, format and the rule that made them
	// ("default" when no rule matched).
	Responses *prometheus.CounterVec
	// GateRequests counts the gate's requests by outcome: proxied, maintenance, bypassed, fallback.
	GateRequests *prometheus.CounterVec
	// UpstreamErrors counts failed upstream exchanges by kind (refused, timeout, status, …).
	UpstreamErrors *prometheus.CounterVec
	// WebhookDeliveries counts webhook deliveries by result: delivered, failed (given up after
	// retries, or refused by the receiver) or dropped (the queue was full).
	WebhookDeliveries *prometheus.CounterVec
	// WebhookRetries counts failed attempts that were retried.
	WebhookRetries prometheus.Counter
	// WebhookQueue is the number of deliveries waiting or being retried.
	WebhookQueue prometheus.Gauge
	// ForwardAuth counts the forward-auth endpoint's decisions: pass, deny or refused, and why.
	ForwardAuth *prometheus.CounterVec

	gate gateCollector
}

// GateState is what the gate reports about its state at the moment of a scrape.
type GateState struct {
	Maintenance bool            // maintenance applies to the whole site now
	Scopes      map[string]bool // each scope the gate knows, and whether it is in maintenance now
	StoreUp     bool            // the last read of the state store succeeded
	StoreLastOK time.Time       // when the store last answered; zero if never
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "maintpage",
			Name:      "responses_total",
			Help:      "Maintenance responses sent, by HTTP status, format and rule.",
		}, []string{"status", "format", "rule"}),
		GateRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "maintpage",
			Name:      "gate_requests_total",
			Help:      "Requests the gate answered, by outcome: proxied, maintenance, bypassed (proxied during maintenance by a bypass), passed (proxied during maintenance by an action: pass rule) or fallback (upstream down).",
		}, []string{"outcome"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "maintpage",
			Name:      "upstream_errors_total",
			Help:      "Upstream exchanges that failed, by kind: refused, timeout, dns, tls, reset, status (a fallback status) or other.",
		}, []string{"kind"}),
		WebhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "maintpage",
			Name:      "webhook_deliveries_total",
			Help:      "Webhook deliveries by result: delivered, failed (given up after retries, or refused) or dropped (queue full).",
		}, []string{"result"}),
		WebhookRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "maintpage",
			Name:      "webhook_retries_total",
			Help:      "Webhook delivery attempts that failed and were retried.",
		}),
		WebhookQueue: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "maintpage",
			Name:      "webhook_queue",
			Help:      "Webhook deliveries waiting or being retried.",
		}),
		ForwardAuth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "maintpage",
			Name:      "forward_auth_decisions_total",
			Help:      "Forward-auth decisions, by decision (pass, deny, refused) and reason (off, a bypass, reserved, maintenance, untrusted, bad_request).",
		}, []string{"decision", "reason"}),
		gate: gateCollector{
			maintenance: prometheus.NewDesc("maintpage_maintenance",
				"1 while maintenance applies (the standalone page: always), else 0.", nil, nil),
			scope: prometheus.NewDesc("maintpage_scope_maintenance",
				"1 while maintenance applies to the scope's requests (the whole site's, or the scope's own), else 0.", []string{"scope"}, nil),
			storeUp: prometheus.NewDesc("maintpage_state_store_up",
				"1 while the last read of the state store succeeded, else 0.", nil, nil),
			storeLastOK: prometheus.NewDesc("maintpage_state_store_last_ok_timestamp_seconds",
				"When the state store last answered, in Unix seconds.", nil, nil),
		},
	}
	reg.MustRegister(m.Responses, m.GateRequests, m.UpstreamErrors, m.WebhookDeliveries, m.WebhookRetries, m.WebhookQueue, m.ForwardAuth, &m.gate)
	return m
}

// SetGateSource makes scrapes ask fn for the gate's state; the last call wins, so a reloaded gate
// replaces the previous one. Without a source (fn nil, as after a reload to the plain standalone
// page) the process is the standalone page: maintenance is 1 and there is no store to report on.
func (m *Metrics) SetGateSource(fn func() GateState) {
	if fn == nil {
		m.gate.source.Store(nil)
		return
	}
	m.gate.source.Store(&fn)
}

// gateCollector reads the state at scrape time, so the gauges are right even with no traffic (a
// scheduled start passes, the store goes away) and the request path does no gauge work.
type gateCollector struct {
	source                                   atomic.Pointer[func() GateState]
	maintenance, scope, storeUp, storeLastOK *prometheus.Desc
}

func (c *gateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.maintenance
	ch <- c.scope
	ch <- c.storeUp
	ch <- c.storeLastOK
}

func (c *gateCollector) Collect(ch chan<- prometheus.Metric) {
	fn := c.source.Load()
	if fn == nil {
		ch <- prometheus.MustNewConstMetric(c.maintenance, prometheus.GaugeValue, 1)
		return
	}
	s := (*fn)()
	ch <- prometheus.MustNewConstMetric(c.maintenance, prometheus.GaugeValue, b2f(s.Maintenance))
	for name, on := range s.Scopes {
		ch <- prometheus.MustNewConstMetric(c.scope, prometheus.GaugeValue, b2f(s.Maintenance || on), name)
	}
	ch <- prometheus.MustNewConstMetric(c.storeUp, prometheus.GaugeValue, b2f(s.StoreUp))
	if !s.StoreLastOK.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.storeLastOK, prometheus.GaugeValue, float64(s.StoreLastOK.UnixNano())/1e9)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
