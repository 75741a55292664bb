"""The GPU ceilings the dashboard divides by: measured per GPU by benchmarks.ceilings and read from
the store, so a new GPU needs its `ceilings.json` and no code; a damaged file is skipped."""
from __future__ import annotations

import json

import pandas as pd

from dashboard_app import charts, data


def test_ceilings_come_from_the_store_per_gpu(tmp_path):
    (tmp_path / "h200").mkdir()
    (tmp_path / "h200" / "ceilings.json").write_text(json.dumps(
        {"gpu_name": "NVIDIA H200", "bf16_gemm_tflops": 800.0, "copy_gb_s": 4200.0,
         "datasheet": {"bf16_tflops": 989.4}}))
    (tmp_path / "ceilings_broken.json").write_text("{not json")
    ceilings = data.load_ceilings(tmp_path)
    assert ceilings["NVIDIA H200"]["measured"] == 800.0 and ceilings["NVIDIA H200"]["copy_gb_s"] == 4200.0
    assert "NVIDIA H100 80GB HBM3" in ceilings  # the H100's recorded figures stay
    df = pd.DataFrame([{"failed": False, "flops_per_token": 1e9, "tokens_per_s": 4e5, "gpu": "NVIDIA H200",
                        "mode": "forward"},
                       {"failed": False, "flops_per_token": 1e9, "tokens_per_s": 4e5, "gpu": "an unmeasured GPU",
                        "mode": "forward"}])
    rows = charts.achieved_table(df, ceilings)
    assert list(rows["gpu"]) == ["NVIDIA H200"] and rows["share_of_measured"].iloc[0] == 400.0 / 800.0
