"""workerguard: a mutating admission webhook that gives background workers heartbeat probes and safe shutdown."""

__version__ = "0.1.0"
