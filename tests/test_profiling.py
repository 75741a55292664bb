"""`profile=true`: each point that runs also writes a torch.profiler trace beside its record
(gzipped Chrome/Perfetto JSON) and names its top operators in the record; the point id and the
timing are those of a run without it."""
from __future__ import annotations

import gzip
import json

import pytest

from harness.run import cli
from harness.store import results

pytestmark = pytest.mark.slow
TINY = ["suite=smoke", "model=mamba", "suite.seq_lens=[16]", "suite.modes=[forward,train]", "progress=false"]


def test_a_profiled_point_writes_a_trace_and_its_top_operators(tmp_path, capsys):
    assert cli.main([*TINY, f"results_dir={tmp_path}", "profile=true"]) == 0
    records = [r for _, r in results.iter_records(tmp_path)]
    assert len(records) == 2
    for record in records:
        profile = record["profile"]
        trace = tmp_path / "smoke" / profile["trace"]
        assert trace.name == f"{record['point_id']}.trace.json.gz" and trace.exists()
        events = json.loads(gzip.open(trace).read())["traceEvents"]
        assert any(e.get("name", "").startswith("aten::") for e in events)
        assert profile["by"] == "self CPU time" and 0 < len(profile["top"]) <= 10
        assert all(row["name"] and row["calls"] >= 1 and row["self_ms"] >= 0 for row in profile["top"])
        assert "profile_trace" not in record["config"]  # not part of the point's identity
    df = results.load(tmp_path)
    assert df["profile_trace"].notna().all()


def test_profiling_does_not_change_the_point_ids(tmp_path, capsys):
    cli.main([*TINY, f"results_dir={tmp_path / 'plain'}"])
    cli.main([*TINY, f"results_dir={tmp_path / 'profiled'}", "profile=true"])
    ids = [sorted(r["point_id"] for _, r in results.iter_records(tmp_path / s)) for s in ("plain", "profiled")]
    assert ids[0] == ids[1]


def test_profile_with_another_launcher_is_one_line(tmp_path, capsys):
    assert cli.main([*TINY, f"results_dir={tmp_path}", "profile=true", "launcher=local_gpus"]) == 2
    assert "profile=true runs with the local launcher" in capsys.readouterr().err
