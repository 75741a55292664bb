"""The CPU gate's verdict (benchmarks/cpu_gate.py) from planted passes: a regression fails it
only when every pass saw one and one of them ran quiet; a loaded machine is named, not failed;
a machine class without a baseline is not gated and says so; one line per failing benchmark."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import cpu_gate

BASE = {"test_scan": 0.010, "test_load": 0.100}


def _write(path: Path, medians: dict[str, float]) -> None:
    path.write_text(json.dumps({"benchmarks": [{"name": k, "stats": {"median": v}} for k, v in medians.items()]}))


@pytest.fixture
def baselines(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_gate, "BASELINES", tmp_path)
    monkeypatch.setattr(cpu_gate.time, "sleep", lambda s: None)
    _write(tmp_path / "cls.json", BASE)
    return tmp_path


def _passes(monkeypatch, passes: list[tuple[dict[str, float], float]]):
    """Planted passes: (medians, others' CPU share) each."""
    queue = list(passes)

    def fake(json_out: Path):
        medians, share = queue.pop(0)
        _write(json_out, medians)
        return 0, "", share
    monkeypatch.setattr(cpu_gate, "run_pass", fake)


SLOW = {"test_scan": 0.025, "test_load": 0.100}  # the scan 2.5x its baseline


@pytest.mark.parametrize("passes,code,verdict", [
    ([(BASE, 0.0)], 0, "PASSED"),
    ([(SLOW, 0.0), (BASE, 0.0)], 0, "PASSED"),                     # a transient slowdown
    ([(SLOW, 0.0), (SLOW, 0.6), (SLOW, 0.6)], 1, "FAILED"),       # every pass, one of them quiet
    ([(SLOW, 0.6), (SLOW, 0.7), (SLOW, 0.5)], 0, "INCONCLUSIVE"),  # every pass loaded
])
def test_the_verdict(baselines, monkeypatch, capsys, passes, code, verdict):
    _passes(monkeypatch, passes)
    assert cpu_gate.gate("cls", threshold=1.0, passes=3) == code
    out = capsys.readouterr().out
    assert f"cpu gate: {verdict}" in out and "Traceback" not in out


def test_one_line_per_failing_benchmark(baselines, monkeypatch, capsys):
    _passes(monkeypatch, [({"test_scan": 0.025}, 0.0)])
    assert cpu_gate.gate("cls", threshold=1.0, passes=1) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(re.search(r"REGRESSED test_scan: median 25.00 ms vs 10.00 ms baseline \(\+150%", x) for x in lines)
    assert any("MISSING test_load" in x for x in lines)


def test_a_class_without_a_baseline_is_not_gated_and_says_so(baselines, capsys):
    assert cpu_gate.gate("another-class", threshold=1.0, passes=1) == 0
    out = capsys.readouterr().out
    assert "NOT GATED: no baseline for this machine class another-class (baselines: cls)" in out


def test_machine_class_names_vendor_family_model_and_cpus():
    assert re.fullmatch(r"[\w.-]+-f[\w?]+-m[\w?]+-\d+cpu", cpu_gate.machine_class())


def test_the_committed_baselines_are_readable():
    files = sorted(cpu_gate.ROOT.joinpath("benchmarks", "baseline").glob("*.json"))
    assert files
    for path in files:
        assert set(cpu_gate.medians(path)) >= {"test_reference_selective_scan", "test_results_loading"}
