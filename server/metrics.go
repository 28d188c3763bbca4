package server

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
)

// Metrics (DESIGN §8): the daemon's state as Prometheus metrics. Gauges are
// read from the sessions and the engine when scraped, so serving costs
// nothing between scrapes; the event counters are one atomic add per event.

// eventKinds are the event kinds counted in sockd_events_total.
var eventKinds = [...]string{
	engine.EventSelect:      "select",
	engine.EventAbort:       "abort",
	engine.EventCompletion:  "completion",
	engine.EventCounterWrap: "counter_wrap",
}

// eventCounts counts the events delivered to sessions, by kind; down
// counts monitor down events.
type eventCounts struct {
	byKind [len(eventKinds)]atomic.Uint64
	down   atomic.Uint64
}

func (c *eventCounts) count(kind engine.EventKind) {
	if int(kind) < len(c.byKind) {
		c.byKind[kind].Add(1)
	}
}

// Collector returns the Prometheus collector of the service's sessions,
// sockets, lanes and events.
func (s *Service) Collector() prometheus.Collector {
	return &collector{svc: s}
}

var (
	descSessions = prometheus.NewDesc("sockd_sessions",
		"Live sessions.", nil, nil)
	descSessionsAttached = prometheus.NewDesc("sockd_sessions_attached",
		"Sessions with an Events stream attached.", nil, nil)
	descEventsUnsent = prometheus.NewDesc("sockd_events_unsent",
		"Events produced for sessions and not yet sent on a stream.", nil, nil)
	descCompletionBytes = prometheus.NewDesc("sockd_completion_bytes",
		"Bytes held for completion mode: received data not yet sent, and what waiting completions keep.", nil, nil)
	descHeldBytes = prometheus.NewDesc("sockd_held_bytes",
		"Bytes held for all principals under the daemon's bound: owed (undelivered events and completions, waiting calls' data and buffers, pipe uploads) and replay (sent events kept for a resume).", []string{"kind"}, nil)
	descHeldBytesLimit = prometheus.NewDesc("sockd_held_bytes_limit",
		"The daemon's bound on held bytes: past it owed bytes refuse new calls that would add to them, and replay is given up.", nil, nil)
	descConnectionBytes = prometheus.NewDesc("sockd_connection_bytes",
		"What gRPC holds for all clients' connections, under the daemon's bounds: requests still arriving or not yet read (requests), and answers not yet taken (answers).", []string{"kind"}, nil)
	descConnectionBytesLimit = prometheus.NewDesc("sockd_connection_bytes_limit",
		"The daemon's bound on each kind of connection bytes: past it a connection whose request would pass it is closed, and calls are refused while answers hold it.", nil, nil)
	descEvents = prometheus.NewDesc("sockd_events_total",
		"Events delivered to sessions, by kind.", []string{"kind"}, nil)
	descSockets = prometheus.NewDesc("sockd_sockets",
		"Open sockets, by domain, type and protocol.", []string{"domain", "type", "protocol"}, nil)
	descRequestors = prometheus.NewDesc("sockd_lane_requestors",
		"Requestors in the sockets' lanes (current and queued), by lane.", []string{"lane"}, nil)
	descPolicyDenials = prometheus.NewDesc("sockd_policy_denials_total",
		"Calls the policy refused (PERMISSION_DENIED; quotas not included), and connections its accept rules closed, by action.", []string{"action"}, nil)
)

type collector struct{ svc *Service }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descSessionsAttached, descEventsUnsent,
		descCompletionBytes, descHeldBytes, descHeldBytesLimit, descConnectionBytes, descConnectionBytesLimit,
		descEvents, descSockets, descRequestors, descPolicyDenials} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	var sessions, attached, unsent, held int
	for _, sess := range c.svc.sessions.all() {
		sessions++
		a, u, h := sess.gauges()
		if a {
			attached++
		}
		unsent += u
		held += h
	}
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(sessions))
	ch <- prometheus.MustNewConstMetric(descSessionsAttached, prometheus.GaugeValue, float64(attached))
	ch <- prometheus.MustNewConstMetric(descEventsUnsent, prometheus.GaugeValue, float64(unsent))
	ch <- prometheus.MustNewConstMetric(descCompletionBytes, prometheus.GaugeValue, float64(held))
	daemon := c.svc.sessions.daemonLoad
	ch <- prometheus.MustNewConstMetric(descHeldBytes, prometheus.GaugeValue, float64(daemon.bytes.Load()), "owed")
	ch <- prometheus.MustNewConstMetric(descHeldBytes, prometheus.GaugeValue, float64(daemon.replay.Load()), "replay")
	ch <- prometheus.MustNewConstMetric(descHeldBytesLimit, prometheus.GaugeValue, float64(daemon.limit))
	if u := c.svc.connBudgets; u != nil {
		ch <- prometheus.MustNewConstMetric(descConnectionBytes, prometheus.GaugeValue, float64(u.requests.Used()), "requests")
		ch <- prometheus.MustNewConstMetric(descConnectionBytes, prometheus.GaugeValue, float64(u.answers.Used()), "answers")
		ch <- prometheus.MustNewConstMetric(descConnectionBytesLimit, prometheus.GaugeValue, float64(u.requests.Limit()))
	}

	events := &c.svc.sessions.events
	for kind, name := range eventKinds {
		if name != "" {
			ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(events.byKind[kind].Load()), name)
		}
	}
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(events.down.Load()), "down")

	type kind struct{ domain, typ, protocol int }
	sockets := map[kind]int{}
	var readers, writers, acceptors int
	for _, sock := range c.svc.engine.Sockets() {
		sockets[kind{sock.Domain(), sock.Type(), sock.Protocol()}]++
		r, w, a := sock.Requestors()
		readers, writers, acceptors = readers+r, writers+w, acceptors+a
	}
	for k, n := range sockets {
		ch <- prometheus.MustNewConstMetric(descSockets, prometheus.GaugeValue, float64(n),
			options.DomainName(k.domain), options.TypeName(k.typ), options.ProtocolName(k.protocol))
	}
	ch <- prometheus.MustNewConstMetric(descRequestors, prometheus.GaugeValue, float64(readers), "reader")
	ch <- prometheus.MustNewConstMetric(descRequestors, prometheus.GaugeValue, float64(writers), "writer")
	ch <- prometheus.MustNewConstMetric(descRequestors, prometheus.GaugeValue, float64(acceptors), "acceptor")
	for _, action := range policyActions {
		ch <- prometheus.MustNewConstMetric(descPolicyDenials, prometheus.CounterValue, float64(c.svc.denials.count(action)), action)
	}
}
