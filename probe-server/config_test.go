package main

import (
	"strings"
	"testing"
)

var goodFlags = []string{"--listen=:8181", "--heartbeat=/var/run/workerguard/heartbeat", "--format=mtime", "--readiness-max-age=60"}

func TestParseConfigReadsEveryFlag(t *testing.T) {
	cfg, err := parseConfig(append(goodFlags, "--liveness-limit=180", "--liveness-max-age=300"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: ":8181", Heartbeat: "/var/run/workerguard/heartbeat", Format: FormatMtime, ReadinessMaxAge: 60}
	if cfg.Liveness == nil || *cfg.Liveness != (Liveness{Limit: 180, MaxAge: 300}) {
		t.Fatalf("liveness: %+v", cfg.Liveness)
	}
	cfg.Liveness = nil
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestLivenessIsOffWithoutItsFlags(t *testing.T) {
	cfg, err := parseConfig(goodFlags)
	if err != nil || cfg.Liveness != nil {
		t.Fatalf("got %+v, %v", cfg.Liveness, err)
	}
}

func TestEveryBadFlagIsNamedInItsError(t *testing.T) {
	for flag, args := range map[string][]string{
		"--listen":            replaced("--listen=localhost"),
		"--heartbeat":         replaced("--heartbeat=/var/run/workerguard/"),
		"--format":            replaced("--format=Unix"),
		"--readiness-max-age": replaced("--readiness-max-age=+60"),
		"--liveness-limit":    append(goodFlags, "--liveness-limit=99999999999", "--liveness-max-age=300"),
		"--liveness-max-age":  append(goodFlags, "--liveness-limit=180", "--liveness-max-age=5m"),
	} {
		_, err := parseConfig(args)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: got %v", flag, err)
		}
	}
}

// replaced is goodFlags with the flag of arg set to arg's value.
func replaced(arg string) []string {
	name := arg[:strings.Index(arg, "=")+1]
	var args []string
	for _, good := range goodFlags {
		if !strings.HasPrefix(good, name) {
			args = append(args, good)
		}
	}
	return append(args, arg)
}

func TestRunExits2ForBadFlagsAnd0ForHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"--format=unix"}, &stdout, &stderr); code != 2 {
		t.Fatalf("bad flags: exit %d", code)
	}
	if got := stderr.String(); got != "workerguard-probe: --listen is required\n" {
		t.Fatalf("stderr %q", got)
	}
	stdout.Reset()
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "usage: ") {
		t.Fatalf("help: exit %d, %q", code, stdout.String())
	}
}
