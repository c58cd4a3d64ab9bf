module workerguard.io/probe-server

go 1.19
