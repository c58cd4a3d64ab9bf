module workerguard.io/example-worker

go 1.19

require workerguard.io/heartbeat/v2 v2.0.0

replace workerguard.io/heartbeat/v2 => ../../writers/go
