// Package heartbeat writes the signal that workerguard's probes judge. Standard library only.
//
// One beat every WORKERGUARD_BEAT_INTERVAL seconds from a goroutine of its own, so a long job keeps
// beating; no beat while any job has run longer than WORKERGUARD_STUCK_AFTER, so a wedged worker
// stops beating and liveness restarts it. A dependency check that fails or hangs writes the
// not-ready marker next to the heartbeat: readiness fails, liveness does not.
//
//	hb := heartbeat.FromEnv()
//	hb.Check = func(ctx context.Context) error { return pingRedis(ctx) }
//	hb.Start()
//	defer hb.Stop()
//	done := hb.JobStarted()
//	work()
//	done()
package heartbeat

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version of this writer.
const Version = "1.0.0"

const (
	DefaultPath       = "/var/run/workerguard/heartbeat"
	DefaultInterval   = 10 * time.Second
	DefaultStuckAfter = 30 * time.Minute
	NotReadyMarker    = "not-ready"
	DrainingMarker    = "draining"
	// A dependency check that has not finished for this many beats counts as failed (a hung Redis).
	checkStaleBeats = 3
)

// Heartbeat beats for one worker process. Set its fields before Start.
type Heartbeat struct {
	Path       string
	Interval   time.Duration
	StuckAfter time.Duration // 0: never stuck
	// Check returns nil when the worker's dependencies are usable; it runs on a goroutine of its own.
	Check func(ctx context.Context) error
	Logf  func(format string, args ...any)
	Now   func() time.Time

	mu        sync.Mutex
	jobs      map[uint64]time.Time
	nextJob   uint64
	checkedAt time.Time
	checkErr  error
	reported  string
	stop      chan struct{}
	done      sync.WaitGroup
}

// FromEnv reads what workerguard injects: WORKERGUARD_HEARTBEAT_FILE, _BEAT_INTERVAL, _STUCK_AFTER.
func FromEnv() *Heartbeat {
	hb := &Heartbeat{Path: os.Getenv("WORKERGUARD_HEARTBEAT_FILE"), Interval: DefaultInterval, StuckAfter: DefaultStuckAfter}
	if hb.Path == "" {
		hb.Path = DefaultPath
	}
	if seconds, ok := parseSeconds(os.Getenv("WORKERGUARD_BEAT_INTERVAL")); ok && seconds > 0 {
		hb.Interval = seconds
	}
	switch text := strings.TrimSpace(os.Getenv("WORKERGUARD_STUCK_AFTER")); text {
	case "off":
		hb.StuckAfter = 0
	default:
		if seconds, ok := parseSeconds(text); ok {
			hb.StuckAfter = seconds
		}
	}
	return hb
}

func parseSeconds(text string) (time.Duration, bool) {
	value, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(value * float64(time.Second)), true
}

// JobStarted marks a job as running; call the returned function when it ends.
func (hb *Heartbeat) JobStarted() (finished func()) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.jobs == nil {
		hb.jobs = map[uint64]time.Time{}
	}
	hb.nextJob++
	id := hb.nextJob
	hb.jobs[id] = hb.now()
	return func() {
		hb.mu.Lock()
		defer hb.mu.Unlock()
		delete(hb.jobs, id)
	}
}

// StuckJobs counts the running jobs older than StuckAfter.
func (hb *Heartbeat) StuckJobs() int {
	if hb.StuckAfter <= 0 {
		return 0
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	stuck, now := 0, hb.now()
	for _, started := range hb.jobs {
		if now.Sub(started) > hb.StuckAfter {
			stuck++
		}
	}
	return stuck
}

// Start clears what a previous container left, beats once, then beats from a goroutine of its own.
func (hb *Heartbeat) Start() {
	hb.stop = make(chan struct{})
	dir := filepath.Dir(hb.Path)
	_ = os.MkdirAll(dir, 0o755)
	for _, name := range []string{DrainingMarker, NotReadyMarker} {
		_ = os.Remove(filepath.Join(dir, name))
	}
	if hb.Check != nil {
		hb.runCheck()
		hb.every(hb.runCheck)
	}
	hb.Beat()
	hb.every(hb.Beat)
}

// Stop stops beating; the last beat stays, and ages out as the process goes away.
func (hb *Heartbeat) Stop() {
	if hb.stop != nil {
		close(hb.stop)
		hb.done.Wait()
	}
}

// Beat writes the heartbeat unless a job is stuck, and the not-ready marker as the check says.
// Errors are logged, never fatal: the next beat tries again.
func (hb *Heartbeat) Beat() {
	if stuck := hb.StuckJobs(); stuck > 0 {
		hb.report(fmt.Sprintf("%d job(s) running longer than %s: not beating, so liveness restarts", stuck, hb.StuckAfter))
	} else if err := write(hb.Path, strconv.FormatInt(hb.now().Unix(), 10)); err != nil {
		hb.logf("workerguard heartbeat failed: %v", err)
	} else {
		hb.report("")
	}
	marker := filepath.Join(filepath.Dir(hb.Path), NotReadyMarker)
	if reason := hb.notReadyReason(); reason == "" {
		if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
			hb.logf("workerguard heartbeat failed: %v", err)
		}
	} else if err := write(marker, reason); err != nil {
		hb.logf("workerguard heartbeat failed: %v", err)
	}
}

func (hb *Heartbeat) every(do func()) {
	hb.done.Add(1)
	go func() {
		defer hb.done.Done()
		ticker := time.NewTicker(hb.Interval)
		defer ticker.Stop()
		for {
			select {
			case <-hb.stop:
				return
			case <-ticker.C:
				do()
			}
		}
	}()
}

func (hb *Heartbeat) runCheck() {
	ctx, cancel := context.WithTimeout(context.Background(), hb.Interval)
	defer cancel()
	err := hb.Check(ctx)
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.checkErr, hb.checkedAt = err, hb.now()
}

func (hb *Heartbeat) notReadyReason() string {
	if hb.Check == nil {
		return ""
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.checkedAt.IsZero() || hb.now().Sub(hb.checkedAt) > checkStaleBeats*hb.Interval {
		return "the dependency check has not answered"
	}
	if hb.checkErr != nil {
		return "dependency check failed: " + hb.checkErr.Error()
	}
	return ""
}

// write replaces target atomically: a temporary file in the same directory, then rename.
func write(target, text string) error {
	temporary := filepath.Join(filepath.Dir(target), fmt.Sprintf(".%s.%d.tmp", filepath.Base(target), os.Getpid()))
	if err := os.WriteFile(temporary, []byte(text), 0o644); err != nil {
		return err
	}
	if err := os.Rename(temporary, target); err != nil {
		_ = os.Remove(temporary)
		return err
	}
	return nil
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

func (hb *Heartbeat) logf(format string, args ...any) {
	if hb.Logf != nil {
		hb.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (hb *Heartbeat) now() time.Time {
	if hb.Now != nil {
		return hb.Now()
	}
	return time.Now()
}
