package main

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A fixed clock: the judge's ages are then exact.
var testNow = time.Unix(1_700_000_000, 0)

func clock() time.Time { return testNow }

func beatAgo(seconds int64) string { return strconv.FormatInt(testNow.Unix()-seconds, 10) }

func newTestJudge(t *testing.T, format Format) (Judge, string) {
	dir := t.TempDir()
	return NewJudge(filepath.Join(dir, "heartbeat"), format, clock), dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadinessChecksDrainingThenNotReadyThenFreshness(t *testing.T) {
	j, dir := newTestJudge(t, FormatUnix)
	write(t, j.heartbeat, beatAgo(75))
	steps := []struct {
		prepare func()
		want    Verdict
	}{
		{func() {}, Verdict{CodeStale, "heartbeat " + j.heartbeat + " is 75s old (readiness allows 60s)"}},
		{func() { write(t, filepath.Join(dir, "not-ready"), "redis down\n") }, Verdict{CodeNotReady, "not ready: redis down"}},
		{func() { write(t, filepath.Join(dir, "draining"), "") }, Verdict{CodeDraining, "draining since preStop"}},
	}
	for _, step := range steps {
		step.prepare()
		if got := j.Readiness(ReadinessThreshold(60)); got != step.want {
			t.Fatalf("got %+v, want %+v", got, step.want)
		}
	}
}

func TestFreshnessOfAUnixBeat(t *testing.T) {
	j, _ := newTestJudge(t, FormatUnix)
	for content, want := range map[string]Verdict{
		beatAgo(0) + "\n":            fresh,
		beatAgo(180):                 fresh,
		beatAgo(181):                 {CodeStale, "heartbeat " + j.heartbeat + " is 181s old (allowance)"},
		beatAgo(-1):                  fresh,
		beatAgo(-2):                  {CodeFuture, "heartbeat " + j.heartbeat + " is 2s in the future"},
		beatAgo(-5):                  {CodeFuture, "heartbeat " + j.heartbeat + " is 5s in the future"},
		"0" + beatAgo(0):             {CodeUnreadable, "heartbeat holds '01700000000', not unix seconds"},
		"12345678901":                {CodeUnreadable, "heartbeat holds '12345678901', not unix seconds"},
		"":                           {CodeUnreadable, "heartbeat holds '', not unix seconds"},
		"abcdefghijklmnopqrstuvwxyz": {CodeUnreadable, "heartbeat holds 'abcdefghijklmnopqrst', not unix seconds"},
	} {
		write(t, j.heartbeat, content)
		if got := j.Freshness(Threshold{180, "allowance"}); got != want {
			t.Errorf("%q: got %+v, want %+v", content, got, want)
		}
	}
}

func TestAHeartbeatOverTheReadLimitIsNeverFresh(t *testing.T) {
	j, _ := newTestJudge(t, FormatUnix)
	padding := make([]byte, readLimit)
	for i := range padding {
		padding[i] = '\n'
	}
	write(t, j.heartbeat, beatAgo(0)+string(padding))
	if got := j.Freshness(Threshold{60, "allowance"}); got.Code != CodeUnreadable {
		t.Fatalf("got %+v", got)
	}
}

func TestAFifoAtTheHeartbeatPathDoesNotBlock(t *testing.T) {
	j, dir := newTestJudge(t, FormatUnix)
	if err := syscall.Mkfifo(j.heartbeat, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "not-ready"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan Verdict, 1)
	go func() { done <- j.Readiness(ReadinessThreshold(60)) }()
	select {
	case got := <-done:
		if got != (Verdict{CodeNotReady, "not ready: "}) {
			t.Fatalf("got %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked on a FIFO")
	}
	if got := j.Freshness(Threshold{60, "allowance"}); got.Code != CodeNoHeartbeat {
		t.Fatalf("got %+v", got)
	}
}

func TestFreshnessOfAnMtimeBeatIgnoresTheContent(t *testing.T) {
	j, _ := newTestJudge(t, FormatMtime)
	if got := j.Freshness(Threshold{60, "allowance"}); got != (Verdict{CodeNoHeartbeat, "no heartbeat yet at " + j.heartbeat}) {
		t.Fatalf("missing: got %+v", got)
	}
	write(t, j.heartbeat, "not a time")
	for age, want := range map[int64]Verdict{
		30:            fresh,
		61:            {CodeStale, "heartbeat " + j.heartbeat + " is 61s old (allowance)"},
		-1:            fresh,
		-2:            {CodeFuture, "heartbeat " + j.heartbeat + " is 2s in the future"},
		-3:            {CodeFuture, "heartbeat " + j.heartbeat + " is 3s in the future"},
		1_700_000_005: {CodeUnreadable, "cannot read the time of " + j.heartbeat},
	} {
		at := testNow.Add(-time.Duration(age) * time.Second)
		if err := os.Chtimes(j.heartbeat, at, at); err != nil {
			t.Fatal(err)
		}
		if got := j.Freshness(Threshold{60, "allowance"}); got != want {
			t.Errorf("age %d: got %+v, want %+v", age, got, want)
		}
	}
}

func TestShellTextIsWhatTheScriptsSee(t *testing.T) {
	if got := shellOutput([]byte("17\x0000\n\n")); got != "1700" {
		t.Errorf("shellOutput: %q", got)
	}
	if got := shellFirstLine([]byte(" \t a\x00b  c \t\nsecond")); got != "ab  c" {
		t.Errorf("shellFirstLine: %q", got)
	}
}
