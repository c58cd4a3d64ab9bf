package heartbeat

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var seconds = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// FromEnv builds a Heartbeat from what workerguard injects: WORKERGUARD_HEARTBEAT_FILE,
// WORKERGUARD_BEAT_INTERVAL and WORKERGUARD_STUCK_AFTER (seconds; stuck-after may be "off").
// Unset or empty means the default. A bad value is an error that names the variable and the value:
// refuse to start rather than run with probes that judge something else. opts are applied after
// the environment (WithCheck, WithLogf; overriding the timing desynchronises the probes).
func FromEnv(opts ...Option) (*Heartbeat, error) {
	path := os.Getenv(envHeartbeatFile)
	if path == "" {
		path = DefaultPath
	} else if err := checkPath(path); err != nil {
		return nil, fmt.Errorf("heartbeat: %s=%q: %v", envHeartbeatFile, path, err)
	}
	env := []Option{}
	if text := os.Getenv(envBeatInterval); strings.TrimSpace(text) != "" {
		d, err := parseSeconds(text)
		if err != nil {
			return nil, fmt.Errorf("heartbeat: %s=%q: %v", envBeatInterval, text, err)
		}
		env = append(env, WithInterval(d))
	}
	if text := os.Getenv(envStuckAfter); strings.TrimSpace(text) == "off" {
		env = append(env, WithoutStuckDetection())
	} else if strings.TrimSpace(text) != "" {
		d, err := parseSeconds(text)
		if err != nil {
			return nil, fmt.Errorf("heartbeat: %s=%q: %v (or \"off\")", envStuckAfter, text, err)
		}
		env = append(env, WithStuckAfter(d))
	}
	return New(path, append(env, opts...)...)
}

// parseSeconds follows the contract's number_syntax: decimal digits with an optional fraction,
// above 0 and at most MaxDuration.
func parseSeconds(text string) (time.Duration, error) {
	text = strings.TrimSpace(text)
	if !seconds.MatchString(text) {
		return 0, fmt.Errorf("want seconds as decimal digits with an optional fraction")
	}
	value, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, fmt.Errorf("want seconds: %v", err)
	}
	if value <= 0 || value > MaxDuration.Seconds() {
		return 0, fmt.Errorf("want seconds above 0 and at most %.0f", MaxDuration.Seconds())
	}
	d := time.Duration(value * float64(time.Second))
	if d <= 0 {
		return 0, fmt.Errorf("want at least a nanosecond")
	}
	return d, nil
}
