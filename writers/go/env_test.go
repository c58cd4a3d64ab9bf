package heartbeat

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

type contract struct {
	Env struct {
		HeartbeatFile string `json:"heartbeat_file"`
		BeatInterval  string `json:"beat_interval"`
		StuckAfter    string `json:"stuck_after"`
	} `json:"env"`
	Defaults struct {
		HeartbeatFile string  `json:"heartbeat_file"`
		BeatInterval  float64 `json:"beat_interval"`
		StuckAfter    float64 `json:"stuck_after"`
	} `json:"defaults"`
	Markers struct {
		NotReady string `json:"not_ready"`
		Draining string `json:"draining"`
		Exited   string `json:"exited"`
	} `json:"markers"`
	CheckStaleBeats int     `json:"check_stale_beats"`
	MaxSeconds      float64 `json:"max_seconds"`
	Parse           []struct {
		Env     string          `json:"env"`
		Value   *string         `json:"value"`
		Seconds json.RawMessage `json:"seconds"`
		Path    *string         `json:"path"`
		Error   bool            `json:"error"`
	} `json:"parse"`
}

func readContract(t *testing.T) contract {
	t.Helper()
	data, err := os.ReadFile("../contract.json")
	if err != nil {
		t.Fatal(err)
	}
	var c contract
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func TestConstantsMatchTheContract(t *testing.T) {
	c := readContract(t)
	if c.Env.HeartbeatFile != envHeartbeatFile || c.Env.BeatInterval != envBeatInterval || c.Env.StuckAfter != envStuckAfter {
		t.Errorf("env names %+v", c.Env)
	}
	if c.Defaults.HeartbeatFile != DefaultPath || secs(c.Defaults.BeatInterval) != DefaultInterval || secs(c.Defaults.StuckAfter) != DefaultStuckAfter {
		t.Errorf("defaults %+v", c.Defaults)
	}
	if c.Markers.NotReady != NotReadyMarker || c.Markers.Draining != DrainingMarker || c.Markers.Exited != ExitedMarker {
		t.Errorf("markers %+v", c.Markers)
	}
	if c.CheckStaleBeats != checkStaleBeats || secs(c.MaxSeconds) != MaxDuration {
		t.Errorf("check_stale_beats %d, max_seconds %v", c.CheckStaleBeats, c.MaxSeconds)
	}
}

func unset(t *testing.T, name string) {
	t.Setenv(name, "") // restored after the test
	os.Unsetenv(name)
}

func TestFromEnvFollowsEveryContractParseRow(t *testing.T) {
	c := readContract(t)
	if len(c.Parse) == 0 {
		t.Fatal("no parse rows")
	}
	for _, row := range c.Parse {
		row := row
		value := "<unset>"
		if row.Value != nil {
			value = *row.Value
		}
		t.Run(row.Env+"="+value, func(t *testing.T) {
			for _, name := range []string{envHeartbeatFile, envBeatInterval, envStuckAfter} {
				unset(t, name)
			}
			if row.Value != nil {
				t.Setenv(row.Env, *row.Value)
			}
			hb, err := FromEnv()
			if row.Error {
				if err == nil {
					t.Fatalf("no error, gave %v %v %v", hb.Path(), hb.Interval(), hb.StuckAfter())
				}
				if !strings.Contains(err.Error(), row.Env) || !strings.Contains(err.Error(), *row.Value) {
					t.Fatalf("error %q does not name the variable and the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if row.Path != nil && hb.Path() != *row.Path {
				t.Fatalf("path %q, want %q", hb.Path(), *row.Path)
			}
			if row.Seconds == nil {
				return
			}
			got := hb.Interval()
			if row.Env == envStuckAfter {
				got = hb.StuckAfter()
			}
			if string(row.Seconds) == `"off"` {
				if got != 0 || row.Env != envStuckAfter {
					t.Fatalf("%v, want off", got)
				}
				return
			}
			var want float64
			if err := json.Unmarshal(row.Seconds, &want); err != nil {
				t.Fatal(err)
			}
			if got != secs(want) {
				t.Fatalf("%v, want %vs", got, want)
			}
		})
	}
}

func TestFromEnvErrorsNameTheVariableAndValue(t *testing.T) {
	for _, name := range []string{envHeartbeatFile, envBeatInterval, envStuckAfter} {
		unset(t, name)
	}
	t.Setenv(envStuckAfter, "abc")
	_, err := FromEnv()
	if err == nil || !strings.Contains(err.Error(), `WORKERGUARD_STUCK_AFTER="abc"`) {
		t.Fatalf("error %v", err)
	}
	t.Setenv(envStuckAfter, "0.0000000001") // above 0, but below a nanosecond
	if _, err := FromEnv(); err == nil {
		t.Fatal("a sub-nanosecond stuck-after was accepted")
	}
	t.Setenv(envStuckAfter, "off")
	t.Setenv(envBeatInterval, "2")
	t.Setenv(envHeartbeatFile, "/run/hb")
	hb, err := FromEnv(WithLogf(t.Logf))
	if err != nil || hb.Path() != "/run/hb" || hb.Interval() != 2*time.Second || hb.StuckAfter() != 0 {
		t.Fatalf("%v %v", hb, err)
	}
	if _, err := FromEnv(WithCheck(nil)); err == nil {
		t.Fatal("a bad option passed to FromEnv was accepted")
	}
}
