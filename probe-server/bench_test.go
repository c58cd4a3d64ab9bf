package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkReadyFresh is the handler's own share of a request (go test -bench . -benchmem); the
// server's whole cost per request, connection included, is bench/probe_server.py's.
func BenchmarkReadyFresh(b *testing.B) {
	dir := b.TempDir()
	heartbeat := filepath.Join(dir, "heartbeat")
	cfg := Config{Heartbeat: heartbeat, Format: FormatUnix, ReadinessMaxAge: 60}
	h := NewHandler(cfg, NewJudge(heartbeat, FormatUnix, time.Now), io.Discard)
	if err := os.WriteFile(heartbeat, []byte(strconv.FormatInt(time.Now().Unix(), 10)), 0o644); err != nil {
		b.Fatal(err)
	}
	request := httptest.NewRequest(http.MethodGet, "/ready", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recorder := httptest.NewRecorder()
		h.ServeHTTP(recorder, request)
		if recorder.Code != http.StatusOK {
			b.Fatal(recorder.Code)
		}
	}
}
