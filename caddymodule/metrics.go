package caddymodule

import (
	"errors"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

// metrics are cubeauth's Prometheus counters. They live for the process
// and are registered in every config's registry, so counts survive
// reloads. Labels never carry secrets: app IDs, session types, reasons.
var metrics = struct {
	once            sync.Once
	sessionsCreated *prometheus.CounterVec
	usersCreated    *prometheus.CounterVec
	authFailures    *prometheus.CounterVec
	forwarded       *prometheus.CounterVec
	throttled       *prometheus.CounterVec
}{}

// forwardKey names one of forwarded's children, which forward.go caches
// (forwardedApps): the proxied path then costs one map lookup, not a label
// hash.
type forwardKey struct {
	appID int64
	user  bool
}

func initMetrics(ctx caddy.Context) error {
	const ns = "cubeauth"
	metrics.once.Do(func() {
		metrics.sessionsCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "sessions_created_total",
			Help: "Sessions created, by app, session type (app, user, guest) and app stage.",
		}, []string{"app_id", "type", "stage"})
		metrics.usersCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "users_created_total",
			Help: "Users created, by app and how (signup, or on the fly at session creation).",
		}, []string{"app_id", "via"})
		metrics.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "auth_failures_total",
			Help: "Refused requests, by reason.",
		}, []string{"reason"})
		metrics.forwarded = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "forwarded_requests_total",
			Help: "Authenticated requests passed to the backend, by app and session type.",
		}, []string{"app_id", "session_type"})
		metrics.throttled = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "throttled_requests_total",
			Help: "Requests refused by a rate limit (429) or for lack of hashing capacity (503), by limit.",
		}, []string{"limit"})
	})
	registry := ctx.GetMetricsRegistry()
	if registry == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{metrics.sessionsCreated, metrics.usersCreated,
		metrics.authFailures, metrics.forwarded, metrics.throttled} {
		if err := registry.Register(c); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
			return err
		}
	}
	return nil
}

func countSessionCreated(res authcore.SessionResult) {
	kind := authcore.SessionTypeApp
	if res.User != nil {
		kind = authcore.SessionTypeUser
		if res.User.IsGuest {
			kind = "guest"
		}
	}
	app := strconv.FormatInt(res.Session.AppID, 10)
	metrics.sessionsCreated.WithLabelValues(app, kind, res.Stage).Inc()
	if res.UserCreated {
		metrics.usersCreated.WithLabelValues(app, "session").Inc()
	}
}

func countSignup(u store.User) {
	metrics.usersCreated.WithLabelValues(strconv.FormatInt(u.AppID, 10), "signup").Inc()
}

// forwardedCounter is the forwarded requests counter of one app and session
// type.
func forwardedCounter(appID, sessionType string) prometheus.Counter {
	return metrics.forwarded.WithLabelValues(appID, sessionType)
}

// countRefusal counts a refused request under its reason (from refusals),
// and a throttled one (busy is not nil) under its limit too.
func countRefusal(reason string, busy *authcore.BusyError) {
	metrics.authFailures.WithLabelValues(reason).Inc()
	if busy == nil {
		return
	}
	limit := busy.Limit
	if limit == "" {
		limit = "hash_capacity"
	}
	metrics.throttled.WithLabelValues(limit).Inc()
}
