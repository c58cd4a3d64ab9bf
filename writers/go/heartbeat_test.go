package heartbeat

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func setup(t *testing.T) (*Heartbeat, *clock, string) {
	dir := t.TempDir()
	c := &clock{now: time.Unix(1800000000, 0)}
	hb := &Heartbeat{Path: filepath.Join(dir, "heartbeat"), Interval: time.Second, StuckAfter: time.Minute, Now: c.Now, Logf: t.Logf}
	return hb, c, dir
}

func read(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestABeatIsUnixSecondsWithNothingLeftBehind(t *testing.T) {
	hb, _, dir := setup(t)
	hb.Beat()
	if got := read(t, hb.Path); got != "1800000000" {
		t.Fatalf("beat %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestAStuckJobStopsTheBeatAndItsEndResumesIt(t *testing.T) {
	hb, c, _ := setup(t)
	finished := hb.JobStarted()
	c.now = c.now.Add(time.Minute)
	hb.Beat()
	c.now = c.now.Add(time.Second)
	hb.Beat()
	if hb.StuckJobs() != 1 || read(t, hb.Path) != "1800000060" {
		t.Fatalf("stuck %d, beat %q", hb.StuckJobs(), read(t, hb.Path))
	}
	finished()
	hb.Beat()
	if got := read(t, hb.Path); got != "1800000061" {
		t.Fatalf("beat %q after the job ended", got)
	}
}

func TestAFailingCheckMarksNotReadyAndAPassingOneClearsIt(t *testing.T) {
	hb, c, dir := setup(t)
	failure := errors.New("connection refused")
	hb.Check = func(context.Context) error { return failure }
	hb.runCheck()
	hb.Beat()
	if got := read(t, filepath.Join(dir, NotReadyMarker)); !strings.Contains(got, "connection refused") {
		t.Fatalf("marker %q", got)
	}
	failure = nil
	hb.runCheck()
	hb.Beat()
	if _, err := os.Stat(filepath.Join(dir, NotReadyMarker)); !os.IsNotExist(err) {
		t.Fatal("marker still there")
	}
	c.now = c.now.Add(checkStaleBeats*time.Second + time.Second)
	hb.Beat()
	if got := read(t, filepath.Join(dir, NotReadyMarker)); got != "the dependency check has not answered" {
		t.Fatalf("stale check gave %q", got)
	}
}

func TestAFailedWriteIsSurvived(t *testing.T) {
	hb, _, dir := setup(t)
	hb.Path = filepath.Join(dir, "missing", "heartbeat")
	hb.Beat()
	if err := os.Mkdir(filepath.Join(dir, "missing"), 0o755); err != nil {
		t.Fatal(err)
	}
	hb.Beat()
	if got := read(t, hb.Path); got != "1800000000" {
		t.Fatalf("beat %q", got)
	}
}

func TestStartClearsMarkersAndStopEnds(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{DrainingMarker, NotReadyMarker} {
		_ = os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	hb := &Heartbeat{Path: filepath.Join(dir, "heartbeat"), Interval: 10 * time.Millisecond, StuckAfter: time.Minute}
	hb.Start()
	time.Sleep(30 * time.Millisecond)
	hb.Stop()
	for _, name := range []string{DrainingMarker, NotReadyMarker} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Fatalf("%s left", name)
		}
	}
	if _, err := os.Stat(hb.Path); err != nil {
		t.Fatal(err)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("WORKERGUARD_HEARTBEAT_FILE", "/run/hb")
	t.Setenv("WORKERGUARD_BEAT_INTERVAL", "2")
	t.Setenv("WORKERGUARD_STUCK_AFTER", "off")
	hb := FromEnv()
	if hb.Path != "/run/hb" || hb.Interval != 2*time.Second || hb.StuckAfter != 0 {
		t.Fatalf("%+v", hb)
	}
}
