// A Go worker: up to 10 jobs at once from a Redis list, judged by workerguard's probes.
//
// Jobs are JSON on the list workerguard:jobs: {"sleep": SECONDS} or {"hang": true}. SIGTERM stops
// taking jobs, lets the running ones finish and exits 0. Redis is spoken to with a few lines of RESP
// so the example needs nothing beyond the standard library and the heartbeat package.
package main

import (
	"bufio"
	"context"
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

	"workerguard.io/heartbeat"
)

const queue = "workerguard:jobs"

type job struct {
	Sleep float64 `json:"sleep"`
	Hang  bool    `json:"hang"`
}

func main() {
	address, err := redisAddress(os.Getenv("REDIS_URL"))
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
			takeJobs(address, hb, stopping)
		}()
	}
	log.Printf("worker ready: %d slots", slots)
	running.Wait()
	hb.Stop()
	log.Print("stopped: every job finished")
}

func takeJobs(address string, hb *heartbeat.Heartbeat, stopping <-chan struct{}) {
	for {
		select {
		case <-stopping:
			return
		default:
		}
		payload, err := brpop(address)
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
func brpop(address string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := command(ctx, address, 5*time.Second, "BRPOP", queue, "1")
	if err != nil || reply == "*-1" {
		return "", err
	}
	return reply, nil
}

// command sends one command on a new connection and reads a simple reply, or the last bulk string
// of an array (BRPOP's value).
func command(ctx context.Context, address string, timeout time.Duration, words ...string) (string, error) {
	var dialer net.Dialer
	connection, err := dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return "", err
	}
	defer connection.Close()
	_ = connection.SetDeadline(time.Now().Add(timeout))
	request := fmt.Sprintf("*%d\r\n", len(words))
	for _, word := range words {
		request += fmt.Sprintf("$%d\r\n%s\r\n", len(word), word)
	}
	if _, err := connection.Write([]byte(request)); err != nil {
		return "", err
	}
	reader := bufio.NewReader(connection)
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

func redisAddress(raw string) (string, error) {
	parsed, err := url.Parse(raw)
	if err != nil || parsed.Host == "" {
		return "", fmt.Errorf("REDIS_URL %q is not redis://host:port", raw)
	}
	if parsed.Port() == "" {
		return parsed.Host + ":6379", nil
	}
	return parsed.Host, nil
}
