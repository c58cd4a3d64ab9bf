package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// A probe is one judged path. It remembers the status code it last answered, so that the log says
// each change once (the message alone changes every second while a beat is stale).
type probe struct {
	name  string
	judge func() Verdict

	mu   sync.Mutex
	last int // 0 before the first judgement
}

// answer judges, and logs the judgement when its code differs from the last one.
func (p *probe) answer(log io.Writer) Verdict {
	v := p.judge()
	p.mu.Lock()
	defer p.mu.Unlock()
	if v.Code != p.last {
		p.last = v.Code
		// Under the lock, so that the lines come in the order the changes were recorded.
		fmt.Fprintf(log, "workerguard-probe: %s: %d %s\n", p.name, v.Code, oneLine(v.Message))
	}
	return v
}

// oneLine keeps a log entry on one line: a garbage heartbeat or a reason may hold a newline or a
// carriage return. The response body keeps them, as the exec probe prints them.
var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace

// Handler serves /ready, /live (when liveness is on) and /healthz; GET and HEAD only.
type Handler struct {
	probes map[string]*probe
	log    io.Writer
}

func NewHandler(cfg Config, judge Judge, log io.Writer) *Handler {
	readiness := ReadinessThreshold(cfg.ReadinessMaxAge)
	probes := map[string]*probe{
		"/ready": {name: "ready", judge: func() Verdict { return judge.Readiness(readiness) }},
	}
	if cfg.Liveness != nil {
		liveness := LivenessThreshold(*cfg.Liveness)
		probes["/live"] = &probe{name: "live", judge: func() Verdict { return judge.Freshness(liveness) }}
	}
	return &Handler{probes: probes, log: log}
}

var (
	textPlain = []string{"text/plain; charset=utf-8"}
	noSniff   = []string{"nosniff"}
	allowed   = []string{"GET, HEAD"}
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, isProbe := h.probes[r.URL.Path]
	if !isProbe && r.URL.Path != "/healthz" {
		reply(w, http.StatusNotFound, "not found\n")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = allowed
		reply(w, http.StatusMethodNotAllowed, "method not allowed\n")
		return
	}
	if !isProbe {
		reply(w, http.StatusOK, "ok\n")
		return
	}
	v := p.answer(h.log)
	reply(w, v.Code, "workerguard: "+v.Message+"\n")
}

func reply(w http.ResponseWriter, code int, body string) {
	header := w.Header()
	header["Content-Type"] = textPlain
	header["X-Content-Type-Options"] = noSniff
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
