module workerguard.io/example-worker

go 1.19

require workerguard.io/heartbeat v0.0.0

replace workerguard.io/heartbeat => ../../writers/go
