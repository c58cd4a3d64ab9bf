package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit code: 0 after SIGTERM or SIGINT, 1 when it cannot listen, 2 for bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "workerguard-probe: %v\n", err)
		return 2
	}
	tuneRuntime()
	listener, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "workerguard-probe: %v\n", err)
		return 1
	}
	handler := NewHandler(cfg, NewJudge(cfg.Heartbeat, cfg.Format, time.Now), stderr)
	server := NewServer(cfg.Listen, handler, log.New(stderr, "workerguard-probe: ", 0))
	fmt.Fprintf(stderr, "workerguard-probe: serving %s for %s (%s)\n", listener.Addr(), cfg.Heartbeat, cfg.Format)
	return serveUntilSignal(server, listener, stderr)
}

// serveUntilSignal serves until SIGTERM or SIGINT. Nothing is in flight worth waiting for: a probe
// cut short is retried by kubelet, and a sidecar is stopped after the worker anyway.
func serveUntilSignal(server *http.Server, listener net.Listener, stderr io.Writer) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case <-stop:
		_ = server.Close()
		return 0
	case err := <-served:
		fmt.Fprintf(stderr, "workerguard-probe: %v\n", err)
		return 1
	}
}
