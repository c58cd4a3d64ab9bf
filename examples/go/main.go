// A Go worker: up to 10 jobs at once from a Redis list, judged by workerguard's probes.
//
// Jobs are JSON on the list workerguard:jobs: {"sleep": SECONDS} or {"hang": true}. SIGTERM stops
// taking jobs, lets the running ones finish and exits 0. Redis is spoken to with a few lines of RESP
// (redis:// or rediss://, with AUTH when the URL has credentials) so the example needs nothing beyond
// the standard library and the heartbeat package.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"workerguard.io/heartbeat/v2"
)

const queue = "workerguard:jobs"

type job struct {
	Sleep float64 `json:"sleep"`
	Hang  bool    `json:"hang"`
}

func main() {
	server, err := parseRedis(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	slots := 10
	if n, err := strconv.Atoi(os.Getenv("CONCURRENCY")); err == nil && n > 0 {
		slots = n
	}
	check, err := heartbeat.RedisPing(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	hb, err := heartbeat.FromEnv(heartbeat.WithCheck(check))
	if err != nil {
		log.Fatal(err)
	}
	if err := hb.Start(); err != nil {
		log.Fatal(err)
	}

	stopping := make(chan struct{})
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-signals; log.Print("SIGTERM: finishing running jobs"); close(stopping) }()

	var running sync.WaitGroup
	for slot := 0; slot < slots; slot++ {
		running.Add(1)
		go func() {
			defer running.Done()
			takeJobs(server, hb, stopping)
		}()
	}
	log.Printf("worker ready: %d slots", slots)
	running.Wait()
	hb.Stop()
	log.Print("stopped: every job finished")
}

func takeJobs(server redisServer, hb *heartbeat.Heartbeat, stopping <-chan struct{}) {
	for {
		select {
		case <-stopping:
			return
		default:
		}
		payload, err := brpop(server)
		if err != nil {
			log.Printf("redis: %v", err)
			time.Sleep(time.Second)
			continue
		}
		if payload == "" {
			continue
		}
		var next job
		if err := json.Unmarshal([]byte(payload), &next); err != nil {
			log.Printf("bad job %q: %v", payload, err)
			continue
		}
		log.Printf("started %s", payload)
		finished := hb.JobStarted()
		if next.Hang {
			select {} // blocks forever, as a deadlocked job does
		}
		time.Sleep(time.Duration(next.Sleep * float64(time.Second)))
		finished()
		log.Printf("finished %s", payload)
	}
}

// brpop waits up to a second for a job; "" when there was none.
func brpop(server redisServer) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := server.command(ctx, 5*time.Second, "BRPOP", queue, "1")
	if err != nil || reply == "*-1" {
		return "", err
	}
	return reply, nil
}

// redisServer is where REDIS_URL points: its address, TLS for rediss://, and the AUTH words if any.
type redisServer struct {
	address string
	tls     *tls.Config
	auth    []string
}

func parseRedis(raw string) (redisServer, error) {
	parsed, err := url.Parse(raw)
	if err != nil || parsed.Hostname() == "" || (parsed.Scheme != "redis" && parsed.Scheme != "rediss") {
		return redisServer{}, fmt.Errorf("REDIS_URL is not redis://host:port or rediss://host:port")
	}
	port := parsed.Port()
	if port == "" {
		port = "6379"
	}
	server := redisServer{address: net.JoinHostPort(parsed.Hostname(), port)}
	if parsed.Scheme == "rediss" {
		server.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: parsed.Hostname()}
	}
	if password, ok := parsed.User.Password(); ok {
		server.auth = []string{"AUTH", password}
		if user := parsed.User.Username(); user != "" {
			server.auth = []string{"AUTH", user, password}
		}
	}
	return server, nil
}

// command sends one command on a new connection (after AUTH, if the URL has credentials) and reads a
// simple reply, or the last bulk string of an array (BRPOP's value).
func (s redisServer) command(ctx context.Context, timeout time.Duration, words ...string) (string, error) {
	var connection net.Conn
	var err error
	if s.tls != nil {
		dialer := tls.Dialer{Config: s.tls}
		connection, err = dialer.DialContext(ctx, "tcp", s.address)
	} else {
		var dialer net.Dialer
		connection, err = dialer.DialContext(ctx, "tcp", s.address)
	}
	if err != nil {
		return "", err
	}
	defer connection.Close()
	_ = connection.SetDeadline(time.Now().Add(timeout))
	reader := bufio.NewReader(connection)
	if s.auth != nil {
		if reply, err := roundTrip(connection, reader, s.auth); err != nil || reply != "+OK" {
			return "", fmt.Errorf("AUTH: %q %v", reply, err)
		}
	}
	return roundTrip(connection, reader, words)
}

func roundTrip(connection net.Conn, reader *bufio.Reader, words []string) (string, error) {
	request := fmt.Sprintf("*%d\r\n", len(words))
	for _, word := range words {
		request += fmt.Sprintf("$%d\r\n%s\r\n", len(word), word)
	}
	if _, err := connection.Write([]byte(request)); err != nil {
		return "", err
	}
	line, err := reader.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = line[:len(line)-2]
	if line == "" || line[0] != '*' || line == "*-1" {
		return line, nil
	}
	count, _ := strconv.Atoi(line[1:])
	value := ""
	for i := 0; i < count; i++ {
		header, err := reader.ReadString('\n')
		if err != nil {
			return "", err
		}
		size, _ := strconv.Atoi(header[1 : len(header)-2])
		data := make([]byte, size+2)
		if _, err := io.ReadFull(reader, data); err != nil {
			return "", err
		}
		value = string(data[:size])
	}
	return value, nil
}
