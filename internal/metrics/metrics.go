package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collectors every part of maintpage reports to.
type Metrics struct {
	// Responses counts maintenance responses by status, format and the rule that made them
	// ("default" when no rule matched).
	Responses *prometheus.CounterVec
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "maintpage",
			Name:      "responses_total",
			Help:      "Maintenance responses sent, by HTTP status, format and rule.",
		}, []string{"status", "format", "rule"}),
	}
	reg.MustRegister(m.Responses)
	return m
}
