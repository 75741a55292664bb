"""Render a `harness.analysis.compare.compare_runs` result: a terminal table, markdown for a PR
comment, or JSON for machines. One row per point, worst verdict first."""
from __future__ import annotations

import json

COLUMNS = ("verdict", "point", "latency ms (base -> cand)", "ratio [CI]", "memory MB (base -> cand)",
           "loss (base -> cand)", "note")


def _num(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:,.{digits}g}"


def row(point: dict) -> tuple[str, ...]:
    lat, mem, loss = point.get("latency"), point.get("memory"), point.get("loss")
    changed = [f"{name} {_num(v['baseline'], 8)} -> {_num(v['candidate'], 8)}"
               for name, v in (point.get("exact") or {}).items() if v["verdict"] == "changed"]
    processes = [f"processes {lat['processes'][0]}/{lat['processes'][1]}, detects >= {lat['detectable_ratio']:.2f}x"
                 + ("" if lat["interval"] == "process-level t" else f", {lat['interval']}")] if lat else []
    notes = [point.get("note"), (loss or {}).get("note"), *changed, *processes]
    return (
        point["verdict"].upper() if point["verdict"] in ("regressed", "failed", "changed") else point["verdict"],
        point["label"],
        f"{_num(lat['baseline_ms'])} -> {_num(lat['candidate_ms'])}" if lat else "-",
        f"{lat['ratio']:.3f} [{lat['ci'][0]:.3f}, {lat['ci'][1]:.3f}]" if lat else "-",
        f"{_num(mem['baseline'])} -> {_num(mem['candidate'])} ({mem['metric']})" if mem else "-",
        f"{_num(loss['baseline'])} -> {_num(loss['candidate'])}" if loss else "-",
        "; ".join(n for n in notes if n),
    )


def summary(result: dict) -> str:
    counts = ", ".join(f"{n} {v}" for v, n in result["counts"].items())
    gate = "PASSED" if result["passed"] else "FAILED"
    s = result["settings"]
    return (f"gate {gate}: {counts} ({len(result['points'])} points; latency regresses when slower by over "
            f"{s['threshold']:.0%} with its {s['per_point_confidence']:.2%} CI above 1, Bonferroni for a "
            f"{s['confidence']:.0%} family-wise level)")


def _environment(result: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in result["environment"].items() if v is not None)


def table(result: dict) -> str:
    rows = [COLUMNS] + [row(p) for p in result["points"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, "", f"environment: {_environment(result)}", summary(result)])


def markdown(result: dict) -> str:
    header = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)
    body = "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in row(p)) + " |" for p in result["points"])
    runs = result["runs"]
    return (f"### Benchmark regression gate: {'passed' if result['passed'] else '**failed**'}\n\n"
            f"{summary(result)}\n\nbaseline run(s): `{', '.join(runs['baseline'])}`; candidate run(s): "
            f"`{', '.join(runs['candidate'])}`\n\nenvironment: {_environment(result)}\n\n{header}\n{body}\n")


def as_json(result: dict) -> str:
    return json.dumps(result, indent=1, sort_keys=True)
