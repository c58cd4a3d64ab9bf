"""Each writer as a user installs it: the package built from writers/, installed into an environment
that holds nothing else of this repository, and an example worker run from that install until the
injected startup and readiness probes pass and a job has run.

- Python: the wheel, with its `rq` extra, into a new venv (its dependencies from the package index, as
  `make` installs the project's); the RQ example runs on that venv's python.
- Ruby: the gem from `gem build`, into an empty gem directory; the Sidekiq example loads it from there.
- Go: the module zip served by a file-system module proxy, fetched with `go get` (no replace
  directive), and the Go example built against it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.brokers import start_redis
from tests.workers.harness import EXAMPLES, record, ROOT, seconds, wait_for, Worker, worker_on

WRITERS = ROOT / "writers"


def run(argv: list[str | Path], **kwargs: object) -> str:
    done = subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return str(done.stdout)


def ready_and_working(worker: Worker) -> float:
    worker.start()
    started_after = worker.wait_started(60)
    wait_for(lambda: worker.probe("readiness") == 0, 3 * seconds("readiness-max-age") + 5, 0.25)
    worker.enqueue("sleep", "1")
    wait_for(worker.finished_a_job, 30, 0.25)
    return started_after


def test_the_python_wheel_in_a_new_venv_runs_the_rq_example(tmp_path: Path) -> None:
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", WRITERS / "python"])
    (wheel,) = (tmp_path / "dist").glob("workerguard_heartbeat-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{wheel}[rq]"])
    where = run([venv / "bin" / "python", "-c", "import workerguard_heartbeat as w; print(w.__file__)"], cwd=tmp_path)
    assert where.startswith(str(venv)), where
    installed = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    with worker_on("rq", start_redis, installed) as worker:
        started_after = ready_and_working(worker)
        record(worker, "i_installed_wheel", started_after_s=round(started_after, 2), wheel=wheel.name)


def test_the_ruby_gem_in_an_empty_gem_directory_runs_the_sidekiq_example(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(WRITERS / "ruby", source)  # gem build writes nothing into the repository
    run(["gem", "build", "workerguard-heartbeat.gemspec", "--output", tmp_path / "workerguard-heartbeat.gem"], cwd=source)
    gems = tmp_path / "gems"
    run(["gem", "install", "--local", "--no-document", "--install-dir", gems, tmp_path / "workerguard-heartbeat.gem"])
    (spec,) = (gems / "specifications").glob("workerguard-heartbeat-*.gemspec")
    with worker_on("sidekiq", start_redis, {"GEM_PATH": f"{gems}:"}) as worker:
        started_after = ready_and_working(worker)
        record(worker, "i_installed_gem", started_after_s=round(started_after, 2), gem=spec.stem)


def test_the_go_module_fetched_through_a_module_proxy_builds_the_go_example(tmp_path: Path) -> None:
    source = (WRITERS / "go" / "heartbeat.go").read_text()
    version = "v" + re.search(r'const Version = "([^"]+)"', source).group(1)  # type: ignore[union-attr]
    module = (WRITERS / "go" / "go.mod").read_text().split()[1]
    assert module.endswith(f"/v{version[1:].split('.')[0]}"), f"{module} at {version}: a v2+ module path ends in /vN"
    serve_module(tmp_path / "proxy", module, version)
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(EXAMPLES / "go" / "main.go", app)
    (app / "go.mod").write_text("module example.com/worker\n\ngo 1.19\n")
    env = {
        **os.environ,
        "GOPROXY": f"file://{tmp_path / 'proxy'}",
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOPATH": str(tmp_path / "gopath"),
        "GOCACHE": str(ROOT / "build" / "go-cache"),
    }
    run(["go", "get", f"{module}@{version}"], cwd=app, env=env)
    assert f"{module} {version}" in (app / "go.mod").read_text()
    run(["go", "build", "-o", tmp_path / "worker", "."], cwd=app, env=env)
    with worker_on("go", start_redis, {"WORKER_BINARY": str(tmp_path / "worker")}) as worker:
        started_after = ready_and_working(worker)
        record(worker, "i_installed_module", started_after_s=round(started_after, 2), module=f"{module}@{version}")
    subprocess.run(["chmod", "-R", "u+w", tmp_path / "gopath"], check=True)  # the module cache is read-only


def serve_module(proxy: Path, module: str, version: str) -> None:
    """The files a Go module proxy serves for one version (the GOPROXY protocol), from writers/go."""
    where = proxy / module / "@v"
    where.mkdir(parents=True)
    (where / "list").write_text(f"{version}\n")
    (where / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2026-12-01T00:00:00Z"}))
    shutil.copy(WRITERS / "go" / "go.mod", where / f"{version}.mod")
    with zipfile.ZipFile(where / f"{version}.zip", "w") as archive:
        for path in sorted((WRITERS / "go").iterdir()):
            if path.is_file():
                archive.write(path, f"{module}@{version}/{path.name}")
