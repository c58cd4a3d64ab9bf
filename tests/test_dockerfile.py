"""The Dockerfile, as far as it can be checked without a Docker engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
LINES = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip() and not line.startswith("#")]


def instructions(name: str) -> list[str]:
    return [line[len(name) + 1 :] for line in LINES if line.upper().startswith(name + " ")]


def test_the_base_image_is_a_pinned_slim_python() -> None:
    [argument] = [line for line in instructions("ARG") if line.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", argument)
    assert instructions("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_every_copy_source_exists_and_is_not_ignored() -> None:
    ignore = (ROOT / ".dockerignore").read_text().split()
    allowed = {entry[1:].rstrip("/") for entry in ignore if entry.startswith("!")}
    for line in instructions("COPY"):
        if line.startswith("--from="):
            continue
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"


def test_the_final_stage_is_non_root_and_has_no_build_tools() -> None:
    final = LINES[max(i for i, line in enumerate(LINES) if line.startswith("FROM ")) :]
    user = [line for line in final if line.startswith("USER ")]
    assert user and re.fullmatch(r"USER [1-9]\d*:[1-9]\d*", user[-1])
    assert not any(re.search(r"apt-get|gcc|build-essential|pip install", line) for line in final)


def test_the_install_step_works_in_a_clean_venv_from_the_copied_files(tmp_path: Path) -> None:
    context = tmp_path / "src"
    context.mkdir()
    for line in instructions("COPY"):
        if line.startswith("--from="):
            continue
        *sources, _ = line.split()
        for source in sources:
            (shutil.copytree if (ROOT / source).is_dir() else shutil.copy)(ROOT / source, context / source)
    # Build from the copied files only (no network: the build backend is the test environment's own),
    # then install that wheel into a clean venv whose dependencies come from the test environment.
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp_path / "dist"),
            str(context),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("workerguard-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin/pip"), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert install.returncode == 0, install.stderr
    [entrypoint] = instructions("ENTRYPOINT")
    command = json.loads(entrypoint)
    assert command == ["workerguard", "serve"]
    ran = subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:], "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if "site-packages" in p)},
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "--tls-cert" in ran.stdout
    installed = subprocess.run(
        [str(venv / "bin/python"), "-c", "import webhook; print(webhook.__file__)"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
        cwd=tmp_path,
    )
    assert str(venv) in installed.stdout, installed.stdout + installed.stderr


def _build_stage() -> list[str]:
    return LINES[: max(i for i, line in enumerate(LINES) if line.startswith("FROM "))]


def test_the_final_image_holds_the_static_busybox_at_the_default_helper_path() -> None:
    from webhook.core.inject import DEFAULT_HELPER_PATH

    build = _build_stage()
    assert any("apt-get install -y --no-install-recommends busybox-static" in line for line in build)
    assert f"--from=build /opt/probe-helper/busybox {DEFAULT_HELPER_PATH}" in instructions("COPY")


# Where the final image holds workerguard-probe, the `probe-transport: http` sidecar (probe-server/).
PROBE_SERVER_PATH = "/usr/local/lib/workerguard/workerguard-probe"


def test_the_final_image_holds_the_probe_server_built_from_debians_go() -> None:
    build = _build_stage()
    assert any("apt-get install -y --no-install-recommends golang-go" in line for line in build)
    assert "COPY probe-server ./probe-server" in build
    assert f"--from=build /opt/probe-helper/workerguard-probe {PROBE_SERVER_PATH}" in instructions("COPY")


def _is_static_elf(binary: Path) -> bool:
    """No PT_INTERP program header: the kernel runs it without a dynamic loader, in an image with no libc."""
    data = binary.read_bytes()
    assert data[:5] == b"\x7fELF\x02", "not a 64-bit ELF"
    phoff, phentsize, phnum = int.from_bytes(data[32:40], "little"), data[54] | data[55] << 8, data[56] | data[57] << 8
    types = [int.from_bytes(data[phoff + i * phentsize : phoff + i * phentsize + 4], "little") for i in range(phnum)]
    return 3 not in types


def test_the_probe_server_build_step_makes_a_static_binary_that_runs(tmp_path: Path) -> None:
    [step] = [line for line in _build_stage() if " go build " in line]
    command = step.removeprefix("&& ").removesuffix("\\").strip()
    output = tmp_path / "workerguard-probe"
    assert "-o /opt/probe-helper/workerguard-probe " in command
    command = command.replace("/opt/probe-helper/workerguard-probe", str(output))
    shutil.copytree(ROOT / "probe-server", tmp_path / "probe-server")
    go = shutil.which("go")
    assert go, "go is not installed: apt-get install golang-go (make test installs it)"
    env = {"PATH": f"{Path(go).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "GOCACHE": str(ROOT / "build" / "go-cache")}
    built = subprocess.run(["sh", "-c", command], cwd=tmp_path / "probe-server", env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert _is_static_elf(output)
    ran = subprocess.run([str(output), "--help"], env={}, capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout.startswith("usage: workerguard-probe"), ran.stderr
