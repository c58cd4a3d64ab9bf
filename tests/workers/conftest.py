"""What every worker scenario shares: the Go example built once, and the figures written at the end."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.workers.harness import EXAMPLES, REPORT, ROOT


@pytest.fixture(scope="session", autouse=True)
def go_binary() -> Iterator[None]:
    """The Go example, built once as its image would ship it; the report, written once all have run."""
    env = dict(os.environ)
    env.setdefault("GOCACHE", str(ROOT / "build" / "go-cache"))
    env.update(GOFLAGS="-mod=mod", GOPROXY="off")
    subprocess.run(["go", "build", "-o", "worker", "."], cwd=EXAMPLES / "go", check=True, env=env)
    yield
    out = ROOT / "build" / "workers-report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(REPORT, indent=2, sort_keys=True))
    print("\n" + json.dumps(REPORT, indent=1, sort_keys=True))
