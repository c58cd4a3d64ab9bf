package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

func setup(t *testing.T, opts ...Option) (*Heartbeat, *clock, string) {
	t.Helper()
	dir := t.TempDir()
	c := &clock{now: time.Unix(1800000000, 0)}
	opts = append([]Option{WithInterval(time.Second), WithStuckAfter(time.Minute), withClock(c.Now), WithLogf(t.Logf)}, opts...)
	hb, err := New(filepath.Join(dir, "heartbeat"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return hb, c, dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mustBeat(t *testing.T, hb *Heartbeat) {
	t.Helper()
	if err := hb.Beat(); err != nil {
		t.Fatal(err)
	}
}

func TestABeatIsUnixSecondsWithNothingLeftBehind(t *testing.T) {
	hb, _, dir := setup(t)
	mustBeat(t, hb)
	if got := read(t, hb.Path()); got != "1800000000" {
		t.Fatalf("beat %q", got)
	}
	info, _ := os.Stat(hb.Path())
	if info.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", info.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestAStuckJobStopsTheBeatAndItsEndResumesIt(t *testing.T) {
	hb, c, _ := setup(t)
	finished := hb.JobStarted()
	c.add(time.Minute)
	mustBeat(t, hb)
	c.add(time.Second)
	mustBeat(t, hb)
	if hb.StuckJobs() != 1 || read(t, hb.Path()) != "1800000060" {
		t.Fatalf("stuck %d, beat %q", hb.StuckJobs(), read(t, hb.Path()))
	}
	finished()
	finished()
	mustBeat(t, hb)
	if got := read(t, hb.Path()); got != "1800000061" {
		t.Fatalf("beat %q after the job ended", got)
	}
}

func TestWithoutStuckDetectionKeepsBeating(t *testing.T) {
	hb, c, _ := setup(t, WithoutStuckDetection())
	hb.JobStarted()
	c.add(MaxDuration)
	mustBeat(t, hb)
	if hb.StuckJobs() != 0 || hb.StuckAfter() != 0 || read(t, hb.Path()) != "1831536000" {
		t.Fatalf("stuck %d, beat %q", hb.StuckJobs(), read(t, hb.Path()))
	}
}

func TestAFailingCheckMarksNotReadyAndAPassingOneClearsIt(t *testing.T) {
	failure := errors.New("dial redis://app:s3cret@redis:6379: connection refused")
	hb, c, dir := setup(t, WithCheck(func(context.Context) error { return failure }))
	hb.runCheck(context.Background())
	mustBeat(t, hb)
	got := read(t, filepath.Join(dir, NotReadyMarker))
	if !strings.Contains(got, "connection refused") || strings.Contains(got, "s3cret") {
		t.Fatalf("marker %q", got)
	}
	failure = nil
	hb.runCheck(context.Background())
	mustBeat(t, hb)
	if _, err := os.Stat(filepath.Join(dir, NotReadyMarker)); !os.IsNotExist(err) {
		t.Fatal("marker still there")
	}
	c.add(checkStaleBeats*time.Second + time.Second)
	mustBeat(t, hb)
	if got := read(t, filepath.Join(dir, NotReadyMarker)); got != "the dependency check has not answered" {
		t.Fatalf("stale check gave %q", got)
	}
}

func TestAFailedWriteIsReturnedAndSurvived(t *testing.T) {
	dir := t.TempDir()
	hb, err := New(filepath.Join(dir, "missing", "heartbeat"), WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.Beat(); err == nil {
		t.Fatal("a beat into a missing directory succeeded")
	}
	if err := os.Mkdir(filepath.Join(dir, "missing"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustBeat(t, hb)
}

func TestStartMakesTheDirectoryClearsMarkersAndStopEnds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{DrainingMarker, NotReadyMarker} {
		_ = os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	hb, err := New(filepath.Join(dir, "heartbeat"), WithInterval(10*time.Millisecond), WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(hb.Path()); err != nil {
		t.Fatalf("no beat once Start returned: %v", err)
	}
	time.Sleep(30 * time.Millisecond)
	hb.Stop()
	for _, name := range []string{DrainingMarker, NotReadyMarker} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Fatalf("%s left", name)
		}
	}
	nested, err := New(filepath.Join(t.TempDir(), "x", "y", "heartbeat"), WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	if err := nested.Start(); err != nil {
		t.Fatal(err)
	}
	nested.Stop()
	if _, err := os.Stat(nested.Path()); err != nil {
		t.Fatal(err)
	}
}

func started(t *testing.T, opts ...Option) *Heartbeat {
	t.Helper()
	hb, _, _ := setup(t, opts...)
	hb.now = time.Now
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	return hb
}

func TestDoubleStopIsANoOp(t *testing.T) {
	hb := started(t)
	hb.Stop()
	hb.Stop()
	if err := hb.Start(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}
	never, _, _ := setup(t)
	never.Stop()
	never.Stop()
}

func TestDoubleStartIsANoOp(t *testing.T) {
	hb := started(t)
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	hb.Stop()
}

func TestConcurrentStartAndStop(t *testing.T) {
	for round := 0; round < 20; round++ {
		hb, _, _ := setup(t, WithInterval(time.Millisecond), WithCheck(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
		var group sync.WaitGroup
		for i := 0; i < 8; i++ {
			group.Add(1)
			go func(i int) {
				defer group.Done()
				if i%2 == 0 {
					if err := hb.Start(); err != nil && !errors.Is(err, ErrStopped) {
						t.Error(err)
					}
				} else {
					hb.Stop()
				}
				_ = hb.Beat()
			}(i)
		}
		group.Wait()
		hb.Stop()
	}
}

func TestStopCancelsARunningCheck(t *testing.T) {
	cancelled := make(chan struct{})
	running := make(chan struct{}, 1)
	hb := started(t, WithInterval(time.Hour), WithCheck(func(ctx context.Context) error {
		running <- struct{}{}
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}))
	<-running
	stopped := make(chan struct{})
	go func() { hb.Stop(); close(stopped) }()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not cancel the check's context")
	}
	<-stopped // it writes the exited marker into the test's directory before the directory goes
}

func TestStopReturnsPromptlyWhenTheCheckIgnoresItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	running := make(chan struct{}, 1)
	hb := started(t, WithInterval(time.Hour), WithCheck(func(ctx context.Context) error {
		running <- struct{}{}
		<-release
		return nil
	}))
	<-running
	stopped := make(chan struct{})
	go func() { hb.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("Stop waits for a check that ignores its context")
	}
}

func TestAHungCheckStillBeatsAndGoesStale(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hb, _, dir := setup(t, WithInterval(5*time.Millisecond), WithCheck(func(ctx context.Context) error { <-release; return nil }))
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	defer hb.Stop()
	if got := read(t, filepath.Join(dir, NotReadyMarker)); got != "the dependency check has not answered" {
		t.Fatalf("marker %q", got)
	}
}

func TestRunBlocksUntilTheContextIsDone(t *testing.T) {
	hb, _, _ := setup(t, WithInterval(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan error)
	go func() { returned <- hb.Run(ctx) }()
	select {
	case err := <-returned:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	if err := hb.Run(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Run after Run: %v", err)
	}
}

func TestRunKeepsBeatingThroughTheDrainAndStopsWhenTheLastJobEnds(t *testing.T) {
	hb, c, dir := setup(t, WithInterval(2*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan error)
	go func() { returned <- hb.Run(ctx) }()
	first, second := hb.JobStarted(), hb.JobStarted()
	cancel() // SIGTERM: the worker drains its two jobs
	for _, finished := range []func(){first, first} {
		c.add(10 * time.Second)
		beat := strconv.FormatInt(c.Now().Unix(), 10)
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, _ := os.ReadFile(hb.Path()) // Run may not have started yet
			if string(got) == beat {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no beat at %s during the drain: %q", beat, got)
			}
			time.Sleep(time.Millisecond)
		}
		finished() // the second call does nothing: the other job still runs
	}
	select {
	case err := <-returned:
		t.Fatalf("Run returned with a job still running: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	if _, err := os.Stat(filepath.Join(dir, ExitedMarker)); !os.IsNotExist(err) {
		t.Fatalf("exited marker during the drain: %v", err)
	}
	second()
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, filepath.Join(dir, ExitedMarker)), strconv.FormatInt(c.Now().Unix(), 10); got != want {
		t.Fatalf("exited marker %q, want %q", got, want)
	}
}

func TestConcurrentBeatsAllSucceed(t *testing.T) {
	hb, _, dir := setup(t)
	var failures atomic.Int64
	var group sync.WaitGroup
	for g := 0; g < 8; g++ {
		group.Add(1)
		go func() {
			defer group.Done()
			for i := 0; i < 1000; i++ {
				if err := hb.Beat(); err != nil {
					if failures.Add(1) == 1 {
						t.Error(err)
					}
				}
			}
		}()
	}
	group.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of 8000 beats failed", n)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %d entries", len(entries))
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "heartbeat")
	for name, c := range map[string]struct {
		path string
		opts []Option
	}{
		"empty path":        {"", nil},
		"relative path":     {"relative/beat", nil},
		"root":              {"/", nil},
		"zero interval":     {good, []Option{WithInterval(0)}},
		"negative interval": {good, []Option{WithInterval(-time.Second)}},
		"huge interval":     {good, []Option{WithInterval(MaxDuration + 1)}},
		"zero stuck-after":  {good, []Option{WithStuckAfter(0)}},
		"negative stuck":    {good, []Option{WithStuckAfter(-5 * time.Second)}},
		"huge stuck-after":  {good, []Option{WithStuckAfter(MaxDuration + 1)}},
		"nil check":         {good, []Option{WithCheck(nil)}},
		"nil logf":          {good, []Option{WithLogf(nil)}},
		"nil option":        {good, []Option{nil}},
	} {
		if hb, err := New(c.path, c.opts...); err == nil {
			t.Errorf("%s: New gave %+v", name, hb)
		}
	}
	hb, err := New(good)
	if err != nil || hb.Interval() != DefaultInterval || hb.StuckAfter() != DefaultStuckAfter || hb.Path() != good {
		t.Fatalf("defaults: %v %v", hb, err)
	}
}

// lines collects what a Heartbeat logs, from any goroutine.
type lines struct {
	mu   sync.Mutex
	text []string
}

func (l *lines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text = append(l.text, fmt.Sprintf(format, args...))
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.text, "\n")
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestStopWritesTheExitedMarkerWithTheTimeAfterTheLastBeat(t *testing.T) {
	hb, c, dir := setup(t, WithInterval(time.Hour))
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	c.add(5 * time.Second)
	hb.Stop()
	if got := read(t, filepath.Join(dir, ExitedMarker)); got != "1800000005" {
		t.Fatalf("exited %q", got)
	}
	if err := hb.Beat(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Beat after Stop: %v", err)
	}
	if got := read(t, hb.Path()); got != "1800000000" {
		t.Fatalf("a beat after the exited marker: %q", got)
	}
	c.add(time.Second)
	hb.Stop()
	if got := read(t, filepath.Join(dir, ExitedMarker)); got != "1800000005" {
		t.Fatalf("a second Stop rewrote the marker: %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("want the heartbeat and the marker, found %v", entries)
	}
}

func TestNoExitedMarkerWithoutStartOrWhileAJobStillRuns(t *testing.T) {
	never, _, neverDir := setup(t)
	never.Stop()
	if exists(t, filepath.Join(neverDir, ExitedMarker)) {
		t.Fatal("a Heartbeat that never started wrote the exited marker")
	}
	logs := &lines{}
	hb, c, dir := setup(t, WithInterval(time.Hour), WithLogf(logs.logf))
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	finished := hb.JobStarted() // still draining: Run returned at SIGTERM, say
	hb.Stop()
	if exists(t, filepath.Join(dir, ExitedMarker)) {
		t.Fatal("the exited marker was written while a job ran")
	}
	if !strings.Contains(logs.String(), "1 job(s) still running") {
		t.Fatalf("not logged: %q", logs.String())
	}
	finished()
	c.add(3 * time.Second)
	hb.Stop()
	if got := read(t, filepath.Join(dir, ExitedMarker)); got != "1800000003" {
		t.Fatalf("exited %q after the drain", got)
	}
}

func TestStartAndEveryBeatRemoveAPreviousContainersExitedMarker(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, ExitedMarker)
	if err := os.WriteFile(marker, []byte("1700000000"), 0o644); err != nil {
		t.Fatal(err)
	}
	seenByFirstCheck := make(chan bool, 1)
	hb, err := New(filepath.Join(dir, "heartbeat"), WithInterval(time.Hour), WithLogf(t.Logf), WithCheck(func(context.Context) error {
		_, err := os.Stat(marker)
		select {
		case seenByFirstCheck <- err == nil:
		default:
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	defer hb.Stop()
	if <-seenByFirstCheck {
		t.Fatal("still there for a first check that may hang on Redis")
	}
	if exists(t, marker) || !exists(t, hb.Path()) {
		t.Fatal("Start left the previous container's exited marker, or did not beat")
	}
	if err := os.WriteFile(marker, []byte("1700000000"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustBeat(t, hb)
	if exists(t, marker) {
		t.Fatal("a beat left an exited marker")
	}
}

func TestAnExitedMarkerThatCannotBeRemovedIsLoggedRetriedAndNeverStopsTheBeat(t *testing.T) {
	logs := &lines{}
	hb, c, dir := setup(t, WithInterval(time.Hour), WithLogf(logs.logf))
	marker := filepath.Join(dir, ExitedMarker)
	// A directory that is not empty: os.Remove fails on it, as a read-only volume would.
	if err := os.MkdirAll(filepath.Join(marker, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := hb.Start(); err != nil {
		t.Fatalf("Start failed on the marker: %v", err)
	}
	defer hb.Stop()
	if got := read(t, hb.Path()); got != "1800000000" {
		t.Fatalf("beat %q", got)
	}
	if !strings.Contains(logs.String(), ExitedMarker) {
		t.Fatalf("the failed removal was not logged: %q", logs.String())
	}
	c.add(time.Second)
	if err := hb.Beat(); err == nil || !strings.Contains(err.Error(), ExitedMarker) {
		t.Fatalf("a beat hid the failed removal: %v", err)
	}
	if got := read(t, hb.Path()); got != "1800000001" {
		t.Fatalf("the failed removal cost the beat: %q", got)
	}
	if err := os.RemoveAll(marker); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustBeat(t, hb)
	if exists(t, marker) {
		t.Fatal("the next beat did not try again")
	}
}
