package main

import (
	"log"
	"net/http"
	"time"
)

// Kubelet sends a small GET and waits at most the probe's timeoutSeconds (1s by default); a client
// slower than these is not kubelet, and its connection is closed.
const (
	readHeaderTimeout = 2 * time.Second
	readTimeout       = 2 * time.Second
	writeTimeout      = 2 * time.Second
	idleTimeout       = 5 * time.Second
	// net/http adds 4096 bytes of slack to this, so a header block over 8 KiB gets 431.
	maxHeaderBytes = 4096
)

// NewServer bounds every connection: how long its headers, request and answer may take, how long
// it may idle, and how large its headers may be. No body is ever read.
func NewServer(addr string, handler http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errorLog,
	}
}
