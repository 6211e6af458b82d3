package service

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /metrics", s.metrics)
	if s.cfg.API != nil {
		s.api = s.cfg.API(s.Store)
		mux.Handle("/", s.api)
	}
	return mux
}

// healthz is 200 when the database answers; it says whether this instance
// holds the consumer (a standby is healthy too).
func (s *Service) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"status": "ok", "consumer": "standby"}
	if s.Leader() {
		body["consumer"] = "leader"
	}
	code := http.StatusOK
	if err := s.Store.Pool.Ping(ctx); err != nil {
		code, body["status"], body["error"] = http.StatusServiceUnavailable, "unavailable", "database: "+err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Service) metrics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	gauges := map[string]float64{}
	if s.Leader() {
		gauges["fundledger_consumer_leader"] = 1
	} else {
		gauges["fundledger_consumer_leader"] = 0
	}
	if n, err := s.Store.OutboxLen(ctx); err == nil {
		gauges["fundledger_outbox_pending"] = float64(n)
	}
	if lag, held, err := s.Store.Lag(ctx, s.cfg.Consumer); err == nil {
		gauges["fundledger_consumer_position"] = float64(lag)
		gauges["fundledger_held_events"] = float64(held)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	s.Metrics.Write(w, gauges)
}
