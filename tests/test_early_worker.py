"""The command line starts a sweep's first warm worker before it imports torch and the suites
(harness.run.cli._early_worker): the guess is right for local chain sweeps, never made for
commands, flags, dry runs, isolation=point or other launchers, and the worker never outlives
the command, whether the sweep uses it, finds nothing to run, or stops on a user mistake."""
from __future__ import annotations

import json

import pytest

from harness.run import cli, isolation

TINY = ["suite=smoke", "model=mamba", "suite.seq_lens=[16]", "suite.modes=[forward]", "progress=false"]


@pytest.fixture
def started(monkeypatch):
    """Every worker `start_early` makes, so a test can see it ended."""
    workers = []
    real = isolation.start_early

    def spy(env=None):
        workers.append(real(env))
        return workers[-1]
    monkeypatch.setattr(isolation, "start_early", spy)
    return workers


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["--cfg", "job"], ["compare", "baseline=a", "candidate=b"], ["claims", "store=x"],
    ["corpus", "build"], ["corpus=build"], ["suite=smoke", "dry_run=true"], ["suite=smoke", "isolation=point"],
    ["suite=smoke", "launcher=local_gpus"], ["suite=smoke", "+launcher=slurm"],
])
def test_no_early_worker_where_none_would_be_used(argv, started):
    assert cli._early_worker(argv) is None
    assert started == []


def test_the_sweep_runs_its_first_point_in_the_early_worker(tmp_path, started, capsys):
    assert cli.main([*TINY, f"results_dir={tmp_path}"]) == 0
    assert len(started) == 1 and started[0].closed and not started[0].alive()
    (record_file,) = (tmp_path / "smoke").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "ok"
    assert record["isolation"] == {"mode": "chain", "worker_point": 0}
    assert started[0].points == 1  # the record came from the early worker, not a second one


@pytest.mark.parametrize("extra,code", [
    (["suite.seq_lens=[0]"], 2),   # a user mistake found after the worker started
    (["suite=nope"], 2),
])
def test_the_early_worker_ends_on_a_user_mistake(tmp_path, started, extra, code, capsys):
    assert cli.main([*TINY, f"results_dir={tmp_path}", *extra]) == code
    assert "error:" in capsys.readouterr().err
    assert len(started) == 1 and started[0].closed and not started[0].alive()


def test_the_early_worker_ends_when_every_point_was_done_before(tmp_path, started, capsys):
    assert cli.main([*TINY, f"results_dir={tmp_path}"]) == 0
    assert cli.main([*TINY, f"results_dir={tmp_path}"]) == 0
    assert "done before" in capsys.readouterr().out
    assert len(started) == 2 and all(w.closed and not w.alive() for w in started)
    assert started[1].points == 0
