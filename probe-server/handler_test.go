package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newTestHandler(t *testing.T, liveness *Liveness) (*Handler, string, *strings.Builder) {
	dir := t.TempDir()
	heartbeat := filepath.Join(dir, "heartbeat")
	cfg := Config{Heartbeat: heartbeat, Format: FormatUnix, ReadinessMaxAge: 60, Liveness: liveness}
	var log strings.Builder
	return NewHandler(cfg, NewJudge(heartbeat, FormatUnix, clock), &log), heartbeat, &log
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	recorder := httptest.NewRecorder()
	h.ServeHTTP(recorder, httptest.NewRequest(method, path, nil))
	return recorder
}

func TestAProbeAnswersItsCodeAndTheExecProbesLine(t *testing.T) {
	h, heartbeat, _ := newTestHandler(t, &Liveness{Limit: 180, MaxAge: 300})
	write(t, heartbeat, beatAgo(200))
	for path, body := range map[string]string{
		"/ready": "workerguard: heartbeat " + heartbeat + " is 200s old (readiness allows 60s)\n",
		"/live":  "workerguard: heartbeat " + heartbeat + " is 200s old (liveness restarts it at 300s)\n",
	} {
		got := serve(h, http.MethodGet, path)
		if got.Code != CodeStale || got.Body.String() != body || got.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: %d %q %v", path, got.Code, got.Body.String(), got.Header())
		}
	}
}

func TestTheLogSaysEachChangeOfCodeOnceOnOneLine(t *testing.T) {
	h, heartbeat, log := newTestHandler(t, nil)
	for _, content := range []string{beatAgo(0), beatAgo(1), beatAgo(70), beatAgo(80), "1\n2", beatAgo(0), "3\r4"} {
		write(t, heartbeat, content)
		serve(h, http.MethodGet, "/ready")
	}
	want := "workerguard-probe: ready: 200 fresh\n" +
		"workerguard-probe: ready: 525 heartbeat " + heartbeat + " is 70s old (readiness allows 60s)\n" +
		`workerguard-probe: ready: 523 heartbeat holds '1\n2', not unix seconds` + "\n" +
		"workerguard-probe: ready: 200 fresh\n" +
		`workerguard-probe: ready: 523 heartbeat holds '3\r4', not unix seconds` + "\n"
	if log.String() != want {
		t.Fatalf("log:\n%s\nwant:\n%s", log.String(), want)
	}
}

func TestRoutesAndMethods(t *testing.T) {
	h, heartbeat, _ := newTestHandler(t, nil)
	if err := os.WriteFile(heartbeat, []byte(beatAgo(0)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/ready", http.StatusOK},
		{http.MethodHead, "/ready", http.StatusOK},
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodGet, "/live", http.StatusNotFound}, // liveness off
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodPost, "/nothing", http.StatusNotFound},
		{http.MethodPost, "/ready", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/healthz", http.StatusMethodNotAllowed},
	} {
		got := serve(h, c.method, c.path)
		if got.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, got.Code, c.code)
		}
		if c.code == http.StatusMethodNotAllowed && got.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, got.Header().Get("Allow"))
		}
	}
}

// syncBuilder is a log that concurrent requests may share.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestConcurrentRequestsNeverLogTheSameCodeTwiceInARow(t *testing.T) {
	dir := t.TempDir()
	heartbeat := filepath.Join(dir, "heartbeat")
	cfg := Config{Heartbeat: heartbeat, Format: FormatUnix, ReadinessMaxAge: 60}
	log := &syncBuilder{}
	h := NewHandler(cfg, NewJudge(heartbeat, FormatUnix, clock), log)
	stop := make(chan struct{})
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.WriteFile(heartbeat, []byte(beatAgo(int64(i%2)*100)), 0o644)
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				serve(h, http.MethodGet, "/ready")
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-flipped
	lines := strings.Split(strings.TrimSuffix(log.b.String(), "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("the heartbeat flipped, yet the log says %q", lines)
	}
	for i := 1; i < len(lines); i++ {
		if code(lines[i]) == code(lines[i-1]) {
			t.Fatalf("line %d repeats the code of the line before: %q, %q", i, lines[i-1], lines[i])
		}
	}
}

// code is the status code of a log line: "workerguard-probe: ready: 525 ...".
func code(line string) string {
	return strings.Fields(line)[2]
}
