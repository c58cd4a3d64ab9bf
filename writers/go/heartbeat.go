package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version of this writer.
const Version = "2.0.0"

// The contract's defaults and marker names (writers/contract.json).
const (
	DefaultPath       = "/var/run/workerguard/heartbeat"
	DefaultInterval   = 10 * time.Second
	DefaultStuckAfter = 30 * time.Minute
	NotReadyMarker    = "not-ready"
	DrainingMarker    = "draining"
	// ExitedMarker is written by Stop, after the last beat: the sidecars' preStop waits for it.
	ExitedMarker = "exited"
	// MaxDuration is the longest interval or stuck-after accepted (365 days).
	MaxDuration = 31536000 * time.Second
)

const (
	envHeartbeatFile = "WORKERGUARD_HEARTBEAT_FILE"
	envBeatInterval  = "WORKERGUARD_BEAT_INTERVAL"
	envStuckAfter    = "WORKERGUARD_STUCK_AFTER"
	// A dependency check that has not finished for this many beats counts as failed (a hung Redis).
	checkStaleBeats = 3
)

// ErrStopped is returned by Start, Run and Beat once Stop has been called: a Heartbeat runs at most
// once.
var ErrStopped = errors.New("heartbeat: stopped")

// An Option configures New or FromEnv.
type Option func(*config) error

type config struct {
	interval   time.Duration
	stuckAfter time.Duration // 0: stuck detection off
	check      func(context.Context) error
	logf       func(format string, args ...any)
	now        func() time.Time
}

// WithInterval sets how often to beat (and to run the check); above 0 and at most MaxDuration.
// The default is DefaultInterval.
func WithInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > MaxDuration {
			return fmt.Errorf("heartbeat: interval %s: want above 0 and at most %s", d, MaxDuration)
		}
		c.interval = d
		return nil
	}
}

// WithStuckAfter sets how long a job may run before the worker counts as stuck and stops beating;
// above 0 and at most MaxDuration. The default is DefaultStuckAfter.
func WithStuckAfter(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > MaxDuration {
			return fmt.Errorf("heartbeat: stuck-after %s: want above 0 and at most %s (WithoutStuckDetection turns it off)", d, MaxDuration)
		}
		c.stuckAfter = d
		return nil
	}
}

// WithoutStuckDetection keeps beating however long a job runs.
func WithoutStuckDetection() Option {
	return func(c *config) error {
		c.stuckAfter = 0
		return nil
	}
}

// WithCheck sets the dependency check: nil when the worker's dependencies are usable. It runs on a
// goroutine of its own once per interval with a context that ends after one interval or at Stop.
// A check that ignores its context is abandoned at Stop, never waited for.
func WithCheck(check func(ctx context.Context) error) Option {
	return func(c *config) error {
		if check == nil {
			return errors.New("heartbeat: WithCheck(nil)")
		}
		c.check = check
		return nil
	}
}

// WithLogf sets where state changes and write failures are logged; the default is log.Printf.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) error {
		if logf == nil {
			return errors.New("heartbeat: WithLogf(nil)")
		}
		c.logf = logf
		return nil
	}
}

// withClock is for tests.
func withClock(now func() time.Time) Option {
	return func(c *config) error {
		c.now = now
		return nil
	}
}

// Heartbeat beats for one worker process. Build it with New or FromEnv.
type Heartbeat struct {
	path string
	config

	mu        sync.Mutex // guards the fields below
	jobs      map[uint64]time.Time
	nextJob   uint64
	noJobs    chan struct{} // closed while no job runs: what Run waits for after its context is done
	checkedAt time.Time
	checkErr  error
	reported  string

	writing    sync.Mutex // held by Beat and by Stop: no beat after the exited marker
	final      bool       // Stop was called; guarded by writing
	exitedOwed bool       // it ran and has not written the exited marker; guarded by writing

	life   sync.Mutex // guards the lifecycle below
	state  int
	cancel context.CancelFunc
	done   chan struct{} // closed when the beating goroutine has returned
}

const (
	idle = iota
	running
	stopped
)

// New returns a Heartbeat writing to path, which must be absolute and name a file. It touches
// nothing on disk until Start.
func New(path string, opts ...Option) (*Heartbeat, error) {
	if err := checkPath(path); err != nil {
		return nil, fmt.Errorf("heartbeat: path %q: %w", path, err)
	}
	hb := &Heartbeat{
		path:   filepath.Clean(path),
		config: config{interval: DefaultInterval, stuckAfter: DefaultStuckAfter, logf: log.Printf, now: time.Now},
		jobs:   map[uint64]time.Time{},
		noJobs: make(chan struct{}),
	}
	close(hb.noJobs)
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("heartbeat: nil Option")
		}
		if err := opt(&hb.config); err != nil {
			return nil, err
		}
	}
	return hb, nil
}

func checkPath(path string) error {
	if !filepath.IsAbs(path) {
		return errors.New("want an absolute path")
	}
	if clean := filepath.Clean(path); filepath.Dir(clean) == clean {
		return errors.New("want a file, not the root directory")
	}
	return nil
}

// Path is the heartbeat file.
func (hb *Heartbeat) Path() string { return hb.path }

// Interval is how often it beats.
func (hb *Heartbeat) Interval() time.Duration { return hb.interval }

// StuckAfter is how long a job may run before beating stops; 0 when stuck detection is off.
func (hb *Heartbeat) StuckAfter() time.Duration { return hb.stuckAfter }

// JobStarted marks a job as running; call the returned function when it ends (more calls do nothing).
func (hb *Heartbeat) JobStarted() (finished func()) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.nextJob++
	id := hb.nextJob
	if len(hb.jobs) == 0 {
		hb.noJobs = make(chan struct{})
	}
	hb.jobs[id] = hb.now()
	return func() {
		hb.mu.Lock()
		defer hb.mu.Unlock()
		if _, ok := hb.jobs[id]; !ok {
			return
		}
		delete(hb.jobs, id)
		if len(hb.jobs) == 0 {
			close(hb.noJobs)
		}
	}
}

// jobsFinished is closed once no job started with JobStarted runs.
func (hb *Heartbeat) jobsFinished() <-chan struct{} {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.noJobs
}

func (hb *Heartbeat) runningJobs() int {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return len(hb.jobs)
}

// StuckJobs counts the running jobs older than StuckAfter.
func (hb *Heartbeat) StuckJobs() int {
	if hb.stuckAfter <= 0 {
		return 0
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	stuck, now := 0, hb.now()
	for _, started := range hb.jobs {
		if now.Sub(started) > hb.stuckAfter {
			stuck++
		}
	}
	return stuck
}

// Start creates the heartbeat's directory, removes the draining, not-ready and exited markers a
// previous container left, beats once (after the first check, waiting at most a second for it), then
// beats from a goroutine of its own until Stop. A second Start while running does nothing; Start
// after Stop returns ErrStopped.
func (hb *Heartbeat) Start() error {
	hb.life.Lock()
	switch hb.state {
	case running:
		hb.life.Unlock()
		return nil
	case stopped:
		hb.life.Unlock()
		return ErrStopped
	}
	dir := filepath.Dir(hb.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		hb.life.Unlock()
		return fmt.Errorf("heartbeat: %w", err)
	}
	for _, name := range []string{DrainingMarker, NotReadyMarker} {
		if err := removeFile(filepath.Join(dir, name)); err != nil {
			hb.life.Unlock()
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
	hb.clearExited()
	hb.writing.Lock()
	hb.exitedOwed = true
	hb.writing.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	hb.state, hb.cancel, hb.done = running, cancel, make(chan struct{})
	first := make(chan struct{})
	go hb.loop(ctx, first, hb.done)
	hb.life.Unlock()
	select {
	case <-first:
	case <-ctx.Done():
	}
	return nil
}

// Stop stops beating and cancels a running check's context, without waiting for a check that
// ignores it. Call it when the process is finishing, after its last job: once the last beat is
// written, a Heartbeat that ran writes the exited marker (unix seconds) next to the heartbeat, which
// the sidecars' preStop waits for. It never writes it while a job started with JobStarted is still
// running: a later Stop writes it once they have finished (Run returning at SIGTERM, then a deferred
// Stop after the drain). The last beat stays, and ages out as the process goes away. Stop is final,
// and safe to call more than once, before Start, or from any goroutine.
func (hb *Heartbeat) Stop() {
	hb.life.Lock()
	hb.state = stopped
	cancel, done := hb.cancel, hb.done
	hb.life.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	hb.writing.Lock()
	defer hb.writing.Unlock()
	hb.final = true
	if hb.exitedOwed {
		hb.markExited()
	}
}

// markExited writes the exited marker unless a job still runs; the caller holds writing.
func (hb *Heartbeat) markExited() {
	if running := hb.runningJobs(); running > 0 {
		hb.logf("workerguard: stopped beating with %d job(s) still running: no exited marker yet, so the sidecars wait for the heartbeat to go stale", running)
		return
	}
	hb.exitedOwed = false
	marker := hb.marker(ExitedMarker)
	if err := write(marker, strconv.FormatInt(hb.now().Unix(), 10)); err != nil {
		hb.logf("workerguard: could not write the exited marker: %v", err)
		return
	}
	hb.logf("workerguard: stopped beating; wrote %s", marker)
}

// clearExited removes a previous container's exited marker, which must never make this one's
// deletion look finished. A removal that fails is logged and tried again at the next beat, as a
// write is; it never stops the worker.
func (hb *Heartbeat) clearExited() {
	if err := removeFile(hb.marker(ExitedMarker)); err != nil {
		hb.logf("workerguard heartbeat failed: %v", err)
	}
}

// marker is the file named name next to the heartbeat.
func (hb *Heartbeat) marker(name string) string {
	return filepath.Join(filepath.Dir(hb.path), name)
}

// removeFile removes path; one that is already gone is no error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Run starts the Heartbeat and blocks until ctx is done or Stop is called. After ctx is done (the
// usual ctx ends at SIGTERM) it goes on beating until the jobs started with JobStarted have
// finished, so a drain keeps the heartbeat fresh and the sidecars waiting; then it stops, as Stop
// does. A stuck job keeps it waiting, silent, until the process ends. Run in a goroutine of its
// own, it may not get to write the exited marker before main returns: defer Stop in main as well.
// It returns Start's error, or nil.
func (hb *Heartbeat) Run(ctx context.Context) error {
	if err := hb.Start(); err != nil {
		return err
	}
	hb.life.Lock()
	done := hb.done
	hb.life.Unlock()
	select {
	case <-ctx.Done():
		select {
		case <-hb.jobsFinished():
		case <-done:
		}
	case <-done:
	}
	hb.Stop()
	return nil
}

func (hb *Heartbeat) loop(ctx context.Context, first, done chan struct{}) {
	defer close(done)
	var checking chan struct{} // closed when the check in flight has answered
	startCheck := func() {
		if hb.check == nil {
			return
		}
		if checking != nil {
			select {
			case <-checking:
			default:
				return // still running: it goes stale rather than piling up goroutines
			}
		}
		answered := make(chan struct{})
		checking = answered
		go func() {
			defer close(answered)
			hb.runCheck(ctx)
		}()
	}
	startCheck()
	if checking != nil {
		wait := time.NewTimer(firstCheckWait(hb.interval))
		select {
		case <-checking:
		case <-wait.C:
		case <-ctx.Done():
		}
		wait.Stop()
	}
	if ctx.Err() == nil {
		hb.beat()
	}
	close(first)
	ticker := time.NewTicker(hb.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			startCheck()
			hb.beat()
		}
	}
}

// firstCheckWait bounds how long Start waits for the first check before its first beat.
func firstCheckWait(interval time.Duration) time.Duration {
	if interval > time.Second {
		return time.Second
	}
	return interval
}

func (hb *Heartbeat) beat() {
	if err := hb.Beat(); err != nil {
		hb.logf("workerguard heartbeat failed: %v", err)
	}
}

func (hb *Heartbeat) runCheck(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, hb.interval)
	defer cancel()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("check panicked: %v", r)
			}
		}()
		return hb.check(ctx)
	}()
	if parent.Err() != nil {
		return // stopped: the answer no longer matters
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.checkErr, hb.checkedAt = err, hb.now()
}

// Beat removes the exited marker a previous container left, writes the heartbeat unless a job is
// stuck (then it deliberately writes nothing and returns nil), and writes or removes the not-ready
// marker as the check says. It returns the write errors; the beating goroutine logs them and tries
// again at the next beat. After Stop it writes nothing and returns ErrStopped. Safe for concurrent
// use.
func (hb *Heartbeat) Beat() error {
	hb.writing.Lock()
	defer hb.writing.Unlock()
	if hb.final {
		return ErrStopped
	}
	var failures []string
	if err := removeFile(hb.marker(ExitedMarker)); err != nil {
		failures = append(failures, err.Error())
	}
	if stuck := hb.StuckJobs(); stuck > 0 {
		hb.report(fmt.Sprintf("%d job(s) running longer than %s: not beating, so liveness restarts", stuck, hb.stuckAfter))
	} else if err := write(hb.path, strconv.FormatInt(hb.now().Unix(), 10)); err != nil {
		failures = append(failures, err.Error())
	} else {
		hb.report("")
	}
	marker := hb.marker(NotReadyMarker)
	if reason := hb.notReadyReason(); reason == "" {
		if err := removeFile(marker); err != nil {
			failures = append(failures, err.Error())
		}
	} else if err := write(marker, reason); err != nil {
		failures = append(failures, err.Error())
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

func (hb *Heartbeat) notReadyReason() string {
	if hb.check == nil {
		return ""
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.checkedAt.IsZero() || hb.now().Sub(hb.checkedAt) > checkStaleBeats*hb.interval {
		return "the dependency check has not answered"
	}
	if hb.checkErr != nil {
		return "dependency check failed: " + redact(hb.checkErr.Error())
	}
	return ""
}

var credentials = regexp.MustCompile(`://[^/@\s]*@`)

// redact drops the credentials of any URL in a check's error, so a password never reaches the marker.
func redact(text string) string {
	return credentials.ReplaceAllString(text, "://***@")
}

// write replaces target atomically: a temporary file of its own in the same directory, then rename.
func write(target, text string) error {
	file, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return err
	}
	temporary := file.Name()
	_, err = file.WriteString(text)
	if err == nil {
		err = file.Chmod(0o644)
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(temporary, target)
	}
	if err != nil {
		_ = os.Remove(temporary)
	}
	return err
}

func (hb *Heartbeat) report(problem string) {
	hb.mu.Lock()
	changed := problem != hb.reported
	hb.reported = problem
	hb.mu.Unlock()
	if !changed {
		return
	}
	if problem == "" {
		hb.logf("workerguard: beating")
	} else {
		hb.logf("workerguard: %s", problem)
	}
}
