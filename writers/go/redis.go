package heartbeat

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A RedisOption configures RedisPing.
type RedisOption func(*redisConfig)

type redisConfig struct {
	tls *tls.Config
}

// WithTLSConfig sets the TLS configuration for a rediss:// URL, e.g. RootCAs for a private CA.
// Without it the system roots verify the server. ServerName defaults to the URL's host.
func WithTLSConfig(config *tls.Config) RedisOption {
	return func(c *redisConfig) { c.tls = config }
}

// RedisPing returns a check for WithCheck that connects to the Redis at rawURL
// (redis://[[user]:password@]host[:port][/db], or rediss:// for TLS), authenticates (AUTH user pass,
// or AUTH pass without a user), selects the db if the path names one, and sends PING. Credentials
// may be URL-encoded. It respects the context's deadline and cancellation. Its errors name
// host:port and never the password.
func RedisPing(rawURL string, opts ...RedisOption) (func(ctx context.Context) error, error) {
	var config redisConfig
	for _, opt := range opts {
		opt(&config)
	}
	parsed, err := url.Parse(rawURL)
	if err != nil {
		// url's errors quote the URL, or a piece of it, which may hold the password.
		return nil, errors.New("heartbeat: the Redis URL does not parse (not shown: it may hold a password)")
	}
	if parsed.Scheme != "redis" && parsed.Scheme != "rediss" {
		return nil, fmt.Errorf("heartbeat: Redis URL scheme %q: want redis or rediss", parsed.Scheme)
	}
	if parsed.Hostname() == "" {
		return nil, errors.New("heartbeat: the Redis URL has no host")
	}
	port := parsed.Port()
	if port == "" {
		port = "6379"
	}
	address := net.JoinHostPort(parsed.Hostname(), port)
	var tlsConfig *tls.Config
	if parsed.Scheme == "rediss" {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if config.tls != nil {
			tlsConfig = config.tls.Clone()
		}
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = parsed.Hostname()
		}
	} else if config.tls != nil {
		return nil, fmt.Errorf("heartbeat: redis %s: a TLS config for a redis:// URL (want rediss://)", address)
	}
	var commands [][]string
	password, hasPassword := parsed.User.Password()
	if user := parsed.User.Username(); hasPassword && user != "" {
		commands = append(commands, []string{"AUTH", user, password})
	} else if hasPassword {
		commands = append(commands, []string{"AUTH", password})
	}
	if db := strings.Trim(parsed.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return nil, fmt.Errorf("heartbeat: redis %s: db %q: want a number", address, db)
		}
		commands = append(commands, []string{"SELECT", db})
	}
	commands = append(commands, []string{"PING"})
	ping := func(ctx context.Context) error {
		err := redisRoundTrip(ctx, address, tlsConfig, commands)
		if err == nil {
			return nil
		}
		text := err.Error()
		if password != "" {
			text = strings.ReplaceAll(text, password, "***")
		}
		return fmt.Errorf("redis %s: %s", address, text)
	}
	return ping, nil
}

func redisRoundTrip(ctx context.Context, address string, tlsConfig *tls.Config, commands [][]string) error {
	var connection net.Conn
	var err error
	if tlsConfig != nil {
		dialer := tls.Dialer{Config: tlsConfig}
		connection, err = dialer.DialContext(ctx, "tcp", address)
	} else {
		var dialer net.Dialer
		connection, err = dialer.DialContext(ctx, "tcp", address)
	}
	if err != nil {
		return err
	}
	defer connection.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = connection.SetDeadline(deadline)
	}
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			_ = connection.SetDeadline(time.Unix(1, 0)) // unblock reads and writes now
		case <-finished:
		}
	}()
	var request strings.Builder
	for _, words := range commands {
		fmt.Fprintf(&request, "*%d\r\n", len(words))
		for _, word := range words {
			fmt.Fprintf(&request, "$%d\r\n%s\r\n", len(word), word)
		}
	}
	if _, err := connection.Write([]byte(request.String())); err != nil {
		return contextError(ctx, err)
	}
	reader := bufio.NewReader(connection)
	for _, words := range commands {
		line, err := reader.ReadString('\n')
		if err != nil {
			return contextError(ctx, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "-"):
			return fmt.Errorf("%s: %s", words[0], line[1:])
		case words[0] == "PING" && line != "+PONG":
			return fmt.Errorf("PING answered %q", line)
		case words[0] != "PING" && line != "+OK":
			return fmt.Errorf("%s answered %q", words[0], line)
		}
	}
	return nil
}

func contextError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
