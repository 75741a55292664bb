"""Faults around a sweep, each checked on disk afterwards: the parent killed by SIGTERM or
SIGKILL mid-point leaves no orphan and keeps what finished; a dead parent's temp folders are
removed by the next run. (More of the fault table: tests/test_runner.py.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.measure.env import REPO_ROOT
from harness.run.isolation import clean_stale_temp_dirs
from harness.store import results
from tests.limits import limit

pytestmark = pytest.mark.slow
ENV = {"packages": {"torch": "2.13.0"}, "cpu_count": 2, "torch_threads": 2}  # a record's environment, minimal
WAIT_S = limit(120.0)  # generous: a loaded 2-core machine imports torch slowly; the tests poll, never sleep it out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def _wait(condition, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _start(tmp_path: Path, isolation: str) -> tuple[subprocess.Popen, Path, Path]:
    store, pid_file, tmpdir = tmp_path / "store", tmp_path / "grandchild.pid", tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "tests.sweep_driver", str(store), isolation, str(pid_file)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    _wait(lambda: pid_file.exists() and pid_file.read_text().strip(), "the hanging point to start")
    return proc, store, pid_file


@pytest.mark.parametrize("isolation", ["chain", "point"])
def test_sigterm_stops_the_running_point_keeps_finished_ones_and_exits_143(tmp_path, isolation):
    proc, store, pid_file = _start(tmp_path, isolation)
    grandchild = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated by SIGTERM" in stderr and "Traceback" not in stderr
    _wait(lambda: not _alive(grandchild), "the running point's grandchild to die", 10.0)
    df = results.load(store)
    assert list(df["status"]) == ["ok"], "only the finished point is recorded; nothing half-done"


@pytest.mark.parametrize("isolation", ["chain", "point"])
def test_sigkill_of_the_parent_leaves_no_orphan_and_the_next_run_cleans_its_temp_folders(tmp_path, isolation):
    proc, store, pid_file = _start(tmp_path, isolation)
    grandchild = int(pid_file.read_text())
    proc.kill()
    proc.wait(timeout=WAIT_S)
    _wait(lambda: not _alive(grandchild), "the orphaned point to die with its parent", 10.0)
    leftovers = list((tmp_path / "tmp").glob("swarm-bench-*"))
    assert leftovers, "a SIGKILLed parent cannot clean up: its folders stay until the next run"
    assert sorted(clean_stale_temp_dirs(str(tmp_path / "tmp"))) == sorted(map(str, leftovers))
    assert not list((tmp_path / "tmp").glob("swarm-bench-*"))
    assert list(results.load(store)["status"]) == ["ok"]


def test_folders_of_a_live_parent_are_kept(tmp_path):
    mine = tmp_path / f"swarm-bench-worker-{os.getpid()}-abc"
    mine.mkdir()
    assert clean_stale_temp_dirs(str(tmp_path)) == [] and mine.exists()


def _store_with_bad_records(tmp_path: Path) -> tuple[Path, dict]:
    store = tmp_path / "store"
    point = {"suite": "unit", "task": "tests.fault_tasks:succeed", "value": 1.0, "model": "mamba", "mode": "forward",
             "seq_len": 64, "batch_size": 1, "dtype": "fp32", "device": "cpu"}
    good = results.write_record(store, "a" * 16, "run", point, {"status": "ok", "payload": {"tokens_per_s": 1.0, "env": ENV}})
    unit = good.parent
    (unit / ("b" * 16 + ".json")).write_text(good.read_text()[:40])  # truncated mid-write
    (unit / ("c" * 16 + ".json")).write_bytes(b'{"point_id": "\xff\xfe"}')  # not UTF-8
    (unit / ("d" * 16 + ".json")).write_text("[1, 2]")  # JSON, but not a record object
    (unit / ("e" * 16 + ".json")).symlink_to(tmp_path / "gone.json")  # dangling link
    (unit / "summary.json").write_text('{"benchmark": "not a record"}')  # other JSON: left alone
    return store, results.read_record(good)


def test_unreadable_records_are_reported_with_path_and_cause_never_dropped_silently(tmp_path):
    store, _ = _store_with_bad_records(tmp_path)
    with pytest.warns(results.UnreadableRecords, match="4 unreadable record file"):
        df = results.load(store)
    assert len(df) == 1
    problems = {Path(p["path"]).name[0]: p["problem"] for p in df.attrs["problems"]}
    assert problems["b"].startswith("is not valid JSON") and "truncated" in problems["b"]
    assert problems["c"].startswith("is not UTF-8")
    assert problems["d"] == "holds a JSON list, not a record"
    assert problems["e"] == "is a dangling link"


def test_compare_refuses_a_run_with_unreadable_records_unless_allowed(tmp_path, capsys):
    from harness.run.cli import main

    store, good = _store_with_bad_records(tmp_path)
    candidate = tmp_path / "candidate"
    results.write_record(candidate, good["point_id"], "run2", good["config"], {"status": "ok", "payload": {"env": ENV}})
    assert main(["compare", f"baseline={store}", f"candidate={candidate}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "4 unreadable record file(s)" in err and "allow_unreadable=true" in err
    assert main(["compare", f"baseline={store}", f"candidate={candidate}", "allow_unreadable=true"]) == 0


def test_the_runner_redoes_a_point_whose_record_is_unreadable_and_keeps_the_bad_file(tmp_path, capsys):
    from harness.run.runner import run_sweep
    from harness.store.points import Point, point_id

    point = Point({"suite": "unit", "task": "tests.fault_tasks:succeed", "value": 5.0}, 60.0)
    run_sweep([point], store=str(tmp_path), progress=False, isolation="point")
    path = results.record_path(tmp_path, "unit", point_id(point.config))
    path.write_text(path.read_text()[:30])
    rows = run_sweep([point], store=str(tmp_path), progress=False, isolation="point")
    assert rows[0]["status"] == "ok" and rows[0]["note"] == ""  # measured again, not "done before"
    assert path.with_name(path.name + ".unreadable").exists(), "the unreadable file is kept aside, not deleted"
    assert "is not valid JSON" in capsys.readouterr().err


def test_the_dashboard_names_the_unreadable_records(tmp_path):
    from dashboard_app import data

    store, _ = _store_with_bad_records(tmp_path)
    table = data.load(store)
    assert len(table) == 1 and "4 unreadable record file(s)" in data.problems_text(table)


def _cli(*args: str, timeout: float = WAIT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


ONE_POINT = ["suite=smoke", "model=mamba", "suite.seq_lens=[16]", "suite.modes=[forward]", "progress=false"]


@pytest.mark.parametrize("layout, message", [
    ("file", "is a file, not a directory"),
    ("under_file", "a parent is a file, not a directory"),
])
def test_an_unusable_store_is_refused_before_any_point_is_measured(tmp_path, layout, message):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    store = blocker if layout == "file" else blocker / "results"
    out = _cli(*ONE_POINT, f"results_dir={store}")
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "status:" not in out.stdout, "no point may be measured into a store that cannot keep it"


def test_a_second_run_on_a_held_store_stops_naming_the_holder(tmp_path):
    from harness.store.lock import StoreLock

    with StoreLock(tmp_path):
        out = _cli(*ONE_POINT, f"results_dir={tmp_path}")
    assert out.returncode == 2 and f"is in use by pid {os.getpid()}" in out.stderr and "wait=true" in out.stderr
    assert not list(tmp_path.glob("smoke/*.json"))


def test_wait_true_queues_behind_the_holder(tmp_path):
    import threading

    from harness.store.lock import StoreLock

    entered = threading.Event()
    holder = StoreLock(tmp_path).__enter__()

    def second():
        with StoreLock(tmp_path, wait=True):
            entered.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not entered.wait(0.5), "the waiting run must not enter while the first holds the store"
    holder.__exit__(None, None, None)
    assert entered.wait(10.0)
    thread.join()


def test_a_lock_left_by_a_dead_run_does_not_block(tmp_path):
    from harness.store.lock import StoreLock

    (tmp_path / ".lock").write_text('{"pid": 999999, "host": "gone", "since": 0}')  # the file stays; flock died
    with StoreLock(tmp_path):
        pass


@pytest.mark.parametrize("content, message", [
    ("{garbage", "is not a readable manifest"),
    ('{"corpus_id": "x"}', "lacks domains, tokenizers"),
    ("[1]", "lacks corpus_id, domains, tokenizers"),
])
def test_a_bad_corpus_manifest_is_one_line(tmp_path, content, message):
    from harness.errors import UserError
    from harness.quality.corpus_build import load_manifest

    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(UserError, match=message):
        load_manifest(tmp_path)


def test_compare_reports_an_unwritable_markdown_path_in_one_line(tmp_path, capsys):
    from harness.run.cli import main

    store, _ = _store_with_bad_records(tmp_path)
    for bad in store.glob("unit/[bcde]*.json"):
        bad.unlink()
    (tmp_path / "file").write_text("x")
    code = main(["compare", f"baseline={store}", f"candidate={store}", f"markdown={tmp_path / 'file' / 'gate.md'}"])
    err = capsys.readouterr().err
    assert code == 2 and "compare.markdown=" in err and "cannot be written" in err and "Traceback" not in err


def test_with_force_a_failure_retires_the_old_records_past_it_in_its_group(tmp_path, capsys):
    from harness.run.runner import run_sweep
    from harness.store.points import Point, point_id

    flag = tmp_path / "flag"
    group = [Point({"suite": "unit", "task": "tests.fault_tasks:fail_if_flagged", "flag": str(flag), "value": v},
                   60.0, stop_group="g") for v in (64.0, 128.0)]
    store = tmp_path / "store"
    assert [r["status"] for r in run_sweep(group, store=str(store), progress=False, isolation="point")] == ["ok", "ok"]
    flag.write_text("now L=64 fails")
    rows = run_sweep(group, store=str(store), progress=False, force=True, isolation="point")
    assert [r["status"] for r in rows] == ["error", "not run"]
    longer = results.record_path(store, "unit", point_id(group[1].config))
    assert not longer.exists() and longer.with_name(longer.name + ".stale").exists()
    assert list(results.load(store)["status"]) == ["error"], "no feasible length may show past the failure"
    assert "no longer stands" in capsys.readouterr().err


def test_the_dashboard_loads_records_without_a_model_and_a_dangling_link(tmp_path):
    from dashboard_app import data

    results.write_record(tmp_path, "f" * 16, "run", {"suite": "unit", "task": "x:y"}, {"status": "ok", "payload": {}})
    (tmp_path / "unit" / ("0" * 16 + ".json")).symlink_to(tmp_path / "gone.json")
    assert data.store_signature(tmp_path)[0] == 2
    table = data.load(tmp_path)
    assert list(table["model"]) == ["(no model)"] and "dangling link" in data.problems_text(table)


@pytest.mark.parametrize("fault, message", [
    ("read_only", "is not writable (read-only or not writable)"),
    ("full_disk", "MiB free; records need at least"),
])
def test_an_unwritable_or_full_store_is_refused_before_any_point(tmp_path, monkeypatch, capsys, fault, message):
    """Root ignores a directory's mode bits, so the two faults are planted where the check meets
    the filesystem: the probe write fails with EROFS, or the disk reports 1 MiB free."""
    import errno
    import shutil as shutil_mod
    from pathlib import Path as PathType

    from harness.run import cli
    from harness.store import lock

    if fault == "read_only":
        real_write = PathType.write_bytes

        def refuse(self, data):
            if self.name.startswith(".write-test-"):
                raise OSError(errno.EROFS, "Read-only file system")
            return real_write(self, data)
        monkeypatch.setattr(PathType, "write_bytes", refuse)
    else:
        monkeypatch.setattr(lock.shutil, "disk_usage", lambda path: shutil_mod._ntuple_diskusage(10 << 30, 10 << 30, 1 << 20))
    monkeypatch.setattr(cli, "_early_worker", lambda argv: None)
    assert cli.main([*ONE_POINT, f"results_dir={tmp_path / 'store'}"]) == 2
    out, err = capsys.readouterr()
    assert message in err and len(err.strip().splitlines()) == 1 and "status:" not in out
    assert not list((tmp_path / "store").rglob("*.json"))
