module workerguard.io/heartbeat

go 1.19
