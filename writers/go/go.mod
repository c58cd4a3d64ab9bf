module workerguard.io/heartbeat/v2

go 1.19
