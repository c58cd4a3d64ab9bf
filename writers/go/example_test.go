package heartbeat_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"workerguard.io/heartbeat/v2"
)

func Example() {
	dir, err := os.MkdirTemp("", "heartbeat-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	hb, err := heartbeat.New(filepath.Join(dir, "run", "heartbeat"),
		heartbeat.WithInterval(time.Second),
		heartbeat.WithLogf(func(string, ...any) {}))
	if err != nil {
		log.Fatal(err)
	}
	if err := hb.Start(); err != nil {
		log.Fatal(err)
	}
	defer hb.Stop()

	done := hb.JobStarted() // around each job
	done()

	_, err = os.Stat(hb.Path())
	fmt.Println("beating:", err == nil, "stuck jobs:", hb.StuckJobs())
	// Output: beating: true stuck jobs: 0
}

func ExampleFromEnv() {
	os.Setenv("WORKERGUARD_STUCK_AFTER", "abc")
	defer os.Unsetenv("WORKERGUARD_STUCK_AFTER")
	_, err := heartbeat.FromEnv()
	fmt.Println(err)
	// Output: heartbeat: WORKERGUARD_STUCK_AFTER="abc": want seconds as decimal digits with an optional fraction (or "off")
}
