"""How records land on disk: readable by others (0644), atomically, and run ids that two
sweeps started in the same second cannot share; the sweep's exit code from its statuses."""
from __future__ import annotations

import stat

from harness.run.runner import new_run_id
from harness.run.sweep import exit_code
from harness.store.atomic import write_json_atomic


def test_records_are_written_0644_and_leave_no_temp_file(tmp_path):
    path = tmp_path / "suite" / "abc.json"
    write_json_atomic(path, {"point_id": "abc", "value": float("nan")})
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text().count("null") == 1  # NaN stored as null
    assert [p.name for p in path.parent.iterdir()] == ["abc.json"]


def test_run_ids_of_one_second_differ():
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50


def test_exit_code_is_one_for_error_crashed_or_timeout_only():
    assert exit_code({"ok": 3, "oom": 1, "not run": 2}) == 0
    for failed in ("error", "crashed", "timeout"):
        assert exit_code({"ok": 3, failed: 1}) == 1
