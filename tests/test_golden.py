"""Golden pairs: tests/golden/NAME.yaml -> NAME.yaml.injected, through the core and through the CLI.

The .injected file is what `workerguard preview -o yaml --rules tests/golden/rules.yaml` prints: the
mutated object, then the skip reason, errors, warnings and explanations as comments. A human reads
every change to it. WORKERGUARD_UPDATE_GOLDEN=1 rewrites them deliberately; then review `git diff`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import golden_text, validate
from webhook.adapters.documents import load_objects
from webhook.adapters.preview import render
from webhook.adapters.rulesfile import load_rules_file
from webhook.core.plan import plan

GOLDEN = Path(__file__).parent / "golden"
RULES_FILE = GOLDEN / "rules.yaml"
CASES = sorted(path.stem for path in GOLDEN.glob("*.yaml") if path.name != RULES_FILE.name)


@pytest.mark.parametrize("case", CASES)
def test_core_output_matches_the_golden_file(case: str) -> None:
    rules = load_rules_file(RULES_FILE)
    [obj] = load_objects((GOLDEN / f"{case}.yaml").read_text())
    result = plan(obj, rules)
    actual = render([result], "yaml")
    expected = golden_text(GOLDEN / f"{case}.yaml.injected", actual)
    # Objects first (clear diffs of the patch applied), then the whole text (explanations, warnings).
    assert result.mutated() == yaml.safe_load(expected)
    assert actual == expected
    validate(result.mutated())
    assert plan(result.mutated(), rules).patch == []


@pytest.mark.parametrize("case", CASES)
def test_cli_output_matches_the_golden_file(case: str) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "webhook",
            "preview",
            "-f",
            str(GOLDEN / f"{case}.yaml"),
            "--rules",
            str(RULES_FILE),
            "-o",
            "yaml",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    golden = (GOLDEN / f"{case}.yaml.injected").read_text()
    assert completed.stdout == golden
    assert completed.returncode == (1 if "# error:" in golden else 0), completed.stderr


def test_no_golden_file_is_stale() -> None:
    outputs = {path.name.removesuffix(".yaml.injected") for path in GOLDEN.glob("*.yaml.injected")}
    assert outputs == set(CASES), "every .injected file needs its input and every input its .injected file"
