// Package heartbeat writes the signal that workerguard's probes judge. Standard library only.
//
// Add it to a worker with one line:
//
//	go get workerguard.io/heartbeat/v2
//
// One beat every interval (WORKERGUARD_BEAT_INTERVAL) from a goroutine of its own, so a long job
// keeps beating; no beat while any job has run longer than stuck-after (WORKERGUARD_STUCK_AFTER),
// so a wedged worker stops beating and liveness restarts it. A dependency check that fails, or has
// not answered for three beats, writes the not-ready marker next to the heartbeat: readiness fails,
// liveness does not.
//
//	check, err := heartbeat.RedisPing(os.Getenv("REDIS_URL"))
//	if err != nil {
//		log.Fatal(err)
//	}
//	hb, err := heartbeat.FromEnv(heartbeat.WithCheck(check))
//	if err != nil {
//		log.Fatal(err) // a bad WORKERGUARD_* value: refuse to start
//	}
//	if err := hb.Start(); err != nil {
//		log.Fatal(err)
//	}
//	defer hb.Stop()
//
//	done := hb.JobStarted() // around each job or message
//	work()
//	done()
//
// Stop is the final stop: call it when the process is finishing, after its last job. It writes the
// exited marker next to the heartbeat, which the sidecars' preStop waits for (never while a job
// started with JobStarted still runs). Run(ctx) is Start, then Stop once ctx is done and the jobs
// running then have finished: beating goes on through the drain.
// A Heartbeat is safe for use from any goroutine; it runs at most once: Start and Stop are
// idempotent, and Start after Stop returns ErrStopped.
package heartbeat
