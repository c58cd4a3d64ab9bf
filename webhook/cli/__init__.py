"""The command-line front ends: `workerguard preview | rules check | certs | manifests | serve`."""
