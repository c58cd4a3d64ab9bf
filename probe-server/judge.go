package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// One status code per reason, so kubelet's "HTTP probe failed with statuscode: N" says why.
const (
	CodeFresh       = http.StatusOK
	CodeDraining    = http.StatusServiceUnavailable
	CodeNotReady    = 521
	CodeNoHeartbeat = 522
	CodeUnreadable  = 523
	CodeFuture      = 524
	CodeStale       = 525
)

// Marker files next to the heartbeat (webhook/core/settings.py names them).
const (
	drainingMarker = "draining"
	notReadyMarker = "not-ready"
)

// A Verdict is one probe's answer: its status code and the line the exec probe prints, without the
// "workerguard: " both start with.
type Verdict struct {
	Code    int
	Message string
}

var fresh = Verdict{CodeFresh, "fresh"}

// A Judge answers readiness and liveness for one heartbeat file, in the order and words of
// webhook/core/probes.py's scripts.
type Judge struct {
	heartbeat string
	format    Format
	draining  string
	notReady  string
	now       func() time.Time
}

func NewJudge(heartbeat string, format Format, now func() time.Time) Judge {
	dir := filepath.Dir(heartbeat)
	return Judge{
		heartbeat: heartbeat,
		format:    format,
		draining:  filepath.Join(dir, drainingMarker),
		notReady:  filepath.Join(dir, notReadyMarker),
		now:       now,
	}
}

// A Threshold is the oldest a beat may be, in seconds, and the words that end the too-old message.
type Threshold struct {
	MaxAge    int64
	Allowance string
}

func ReadinessThreshold(maxAge int64) Threshold {
	return Threshold{maxAge, fmt.Sprintf("readiness allows %ds", maxAge)}
}

// LivenessThreshold fails one run past the limit, and names liveness-max-age, the setting.
func LivenessThreshold(l Liveness) Threshold {
	return Threshold{l.Limit, fmt.Sprintf("liveness restarts it at %ds", l.MaxAge)}
}

// Readiness: not draining, not marked not ready by the writer, and a fresh beat.
func (j Judge) Readiness(threshold Threshold) Verdict {
	if exists(j.draining) {
		return Verdict{CodeDraining, "draining since preStop"}
	}
	if exists(j.notReady) {
		return Verdict{CodeNotReady, "not ready: " + cut(j.notReadyReason(), 100)}
	}
	return j.Freshness(threshold)
}

// Freshness: a beat, neither from the future nor older than the threshold.
func (j Judge) Freshness(threshold Threshold) Verdict {
	beat, failed := j.beat()
	if failed != nil {
		return *failed
	}
	// Whole seconds on both sides, as `date +%s` and the file give them. One second ahead is allowed, as
	// the exec scripts allow it (busybox's date lags the writers' clock by up to a tick), so both
	// transports give one verdict.
	age := j.now().Unix() - beat
	switch {
	case age < -1:
		return Verdict{CodeFuture, fmt.Sprintf("heartbeat %s is %ds in the future", j.heartbeat, -age)}
	case age > threshold.MaxAge:
		return Verdict{CodeStale, fmt.Sprintf("heartbeat %s is %ds old (%s)", j.heartbeat, age, threshold.Allowance)}
	}
	return fresh
}

// beat is the heartbeat's time in unix seconds, or the verdict that says why there is none.
func (j Judge) beat() (int64, *Verdict) {
	if j.format == FormatMtime {
		return j.mtimeBeat()
	}
	return j.unixBeat()
}

func (j Judge) unixBeat() (int64, *Verdict) {
	content, err := readHead(j.heartbeat)
	if err != nil {
		return 0, j.noHeartbeat()
	}
	text := shellOutput(content)
	if len(content) > readLimit || !isUnixSeconds(text) {
		return 0, &Verdict{CodeUnreadable, "heartbeat holds '" + cut(text, 20) + "', not unix seconds"}
	}
	beat, _ := strconv.ParseInt(text, 10, 64) // 1 to 10 digits: it cannot fail
	return beat, nil
}

// mtimeBeat is `stat -c %Y`, which does not follow a symlink.
func (j Judge) mtimeBeat() (int64, *Verdict) {
	info, err := os.Lstat(j.heartbeat)
	if err != nil {
		return 0, j.noHeartbeat()
	}
	beat := info.ModTime().Unix()
	if beat < 0 {
		// stat prints "-N", which the script's digits-only check refuses.
		return 0, &Verdict{CodeUnreadable, "cannot read the time of " + j.heartbeat}
	}
	return beat, nil
}

func (j Judge) noHeartbeat() *Verdict {
	return &Verdict{CodeNoHeartbeat, "no heartbeat yet at " + j.heartbeat}
}

// notReadyReason is the marker's first line; a marker that cannot be read still marks, with no reason.
func (j Judge) notReadyReason() string {
	content, err := readHead(j.notReady)
	if err != nil {
		return ""
	}
	return shellFirstLine(content)
}

// isUnixSeconds is the script's test: 1 to 10 digits, no leading zero (bash reads 0... as octal;
// 11 digits is garbage or the year 2286).
func isUnixSeconds(text string) bool {
	return len(text) >= 1 && len(text) <= 10 && text[0] != '0' && allDigits(text)
}
