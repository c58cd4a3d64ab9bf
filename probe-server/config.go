package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
)

// Format says where a heartbeat's time is: in its content (unix seconds) or its modification time.
type Format string

const (
	FormatUnix  Format = "unix"
	FormatMtime Format = "mtime"
)

// Config is what the flags say.
type Config struct {
	Listen          string
	Heartbeat       string
	Format          Format
	ReadinessMaxAge int64
	// Liveness is nil when liveness is off (no --liveness-limit).
	Liveness *Liveness
}

// Liveness is the /live probe's threshold and what its failure message calls the setting.
type Liveness struct {
	// Limit is the age at which one liveness run fails (probes.liveness_limit), below MaxAge so
	// that kubelet's third failure in a row falls at MaxAge.
	Limit int64
	// MaxAge is only said: "liveness restarts it at {MaxAge}s".
	MaxAge int64
}

const usage = `usage: workerguard-probe --listen=[HOST]:PORT --heartbeat=/ABS/PATH --format=unix|mtime
       --readiness-max-age=SECONDS [--liveness-limit=SECONDS --liveness-max-age=SECONDS]

GET /ready    readiness: draining marker, not-ready marker, then heartbeat freshness
GET /live     liveness: heartbeat freshness against --liveness-limit (404 without it)
GET /healthz  this server's own liveness
`

// parseConfig reads the flags; every error names the flag it is about, in one line.
func parseConfig(args []string) (Config, error) {
	fs := flag.NewFlagSet("workerguard-probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "", "")
	heartbeat := fs.String("heartbeat", "", "")
	format := fs.String("format", "", "")
	readiness := fs.String("readiness-max-age", "", "")
	limit := fs.String("liveness-limit", "", "")
	maxAge := fs.String("liveness-max-age", "", "")
	if err := fs.Parse(args); err != nil {
		return Config{}, err // flag.ErrHelp for -h and --help, which main answers with the usage
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: every setting is a --flag=value", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range []string{"listen", "heartbeat", "format", "readiness-max-age"} {
		if !given[name] {
			return Config{}, fmt.Errorf("--%s is required", name)
		}
	}
	var cfg Config
	var err error
	if cfg.Listen, err = parseListen(*listen); err != nil {
		return Config{}, err
	}
	if cfg.Heartbeat, err = parseHeartbeat(*heartbeat); err != nil {
		return Config{}, err
	}
	if cfg.Format, err = parseFormat(*format); err != nil {
		return Config{}, err
	}
	if cfg.ReadinessMaxAge, err = parseSeconds("readiness-max-age", *readiness); err != nil {
		return Config{}, err
	}
	cfg.Liveness, err = parseLiveness(given, *limit, *maxAge)
	return cfg, err
}

func parseListen(value string) (string, error) {
	_, port, err := net.SplitHostPort(value)
	if err != nil {
		return "", fmt.Errorf("--listen: %q is not [HOST]:PORT", value)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("--listen: %q has no port between 1 and 65535", value)
	}
	return value, nil
}

func parseHeartbeat(value string) (string, error) {
	if !filepath.IsAbs(value) || filepath.Clean(value) != value || value == "/" {
		return "", fmt.Errorf("--heartbeat: %q is not an absolute, normalized file path", value)
	}
	return value, nil
}

func parseFormat(value string) (Format, error) {
	switch Format(value) {
	case FormatUnix, FormatMtime:
		return Format(value), nil
	}
	return "", fmt.Errorf("--format: %q is neither unix nor mtime", value)
}

// maxSecondsDigits bounds a number of seconds far beyond any setting (over 300 years) and far
// below overflow.
const maxSecondsDigits = 10

func parseSeconds(name, value string) (int64, error) {
	if value == "" || len(value) > maxSecondsDigits || !allDigits(value) {
		return 0, fmt.Errorf("--%s: %q is not a whole number of seconds", name, value)
	}
	return strconv.ParseInt(value, 10, 64)
}

func parseLiveness(given map[string]bool, limit, maxAge string) (*Liveness, error) {
	switch {
	case !given["liveness-limit"] && !given["liveness-max-age"]:
		return nil, nil
	case !given["liveness-limit"]:
		return nil, errors.New("--liveness-max-age needs --liveness-limit (without both, liveness is off)")
	case !given["liveness-max-age"]:
		return nil, errors.New("--liveness-limit needs --liveness-max-age, which its failure message names")
	}
	l, err := parseSeconds("liveness-limit", limit)
	if err != nil {
		return nil, err
	}
	m, err := parseSeconds("liveness-max-age", maxAge)
	if err != nil {
		return nil, err
	}
	return &Liveness{Limit: l, MaxAge: m}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
