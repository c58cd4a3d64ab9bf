package main

import (
	"os"
	"runtime"
	"runtime/debug"
)

// A sidecar that answers a few probes a minute needs one thread running Go code and a small heap.
// Go 1.19 sizes GOMAXPROCS by the node's cores, not the container's CPU limit: on a large node that
// means a per-P cache and a GC worker share for each core. Its live heap is a few KiB, so the default
// GOGC (100) lets the heap grow to the 4 MiB minimum between collections; 25 holds it near 1 MiB
// for a little more collection work. docs/probes.md has the measurements. GOMAXPROCS and GOGC set
// in the environment still win.
const (
	maxProcs  = 1
	gcPercent = 25
)

func tuneRuntime() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(maxProcs)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
