// Command workerguard-probe answers kubelet's httpGet readiness and liveness probes for a worker by
// judging its heartbeat file, with exactly the verdicts and messages of workerguard's exec probe
// scripts (webhook/core/probes.py), so a pod can use `probe-transport: http` instead of an exec per
// probe. It runs as a native sidecar that mounts the heartbeat volume read-only; it writes no files
// and starts no processes.
//
//	workerguard-probe --listen=:8181 --heartbeat=/var/run/workerguard/heartbeat --format=unix \
//		--readiness-max-age=60 --liveness-limit=180 --liveness-max-age=300
//
// GET /ready and GET /live answer 200 when the worker passes and one status code per reason when it
// does not (503 draining, 521 not ready, 522 no heartbeat yet, 523 unreadable, 524 in the future,
// 525 too old), the body being the line the exec probe would print. GET /healthz is the server's
// own liveness. Bad flags exit 2.
package main
