"""One function per dashboard tab: each takes the filtered table (and the store where it needs
raw records), draws with Streamlit, and shows an empty state naming the command to run."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard_app import charts, data
from harness.analysis import claims as claims_ledger
from harness.analysis import compare, compare_report, quality_report
from harness.analysis.claims_catalog import CLAIMS
from harness.errors import UserError
from harness.quality.synthetic_tasks import TASKS
from harness.store import results


def _empty(what: str, command: str) -> None:
    st.info(f"No {what} in the selection. Record some with `{command}`, or widen the filters.")


def scaling(df: pd.DataFrame) -> None:
    rows = df[df["suite"] == "scaling"]
    if rows.empty:
        return _empty("scaling results", "python run.py suite=scaling")
    metric = st.radio("metric", list(charts.METRICS), format_func=charts.METRICS.get, horizontal=True, key="scaling_metric")
    lengths = sorted(rows["seq_len"].dropna().unique().astype(int))
    knee = charts.launch_bound_knee(rows)
    min_len = st.select_slider("fit exponents from L >=", lengths, value=knee if knee in lengths else lengths[0],
                               key="scaling_min_len")
    for mode in sorted(rows["mode"].dropna().unique()):
        st.plotly_chart(charts.scaling_figure(rows, metric, mode), key=f"scaling_{mode}")
    meaning = {"tokens_per_s": "~0 linear time, ~-1 quadratic"}.get(metric, "~1 linear, ~2 quadratic")
    st.caption(f"Fitted exponent of the metric in L (log-log least squares, 95% CI): {meaning}. "
               + (f"Fits start at L={knee:,} by default: below it latency does not yet grow with L in some model "
                  "(launch-bound), found from the data." if knee else ""))
    st.dataframe(charts.exponents_table(rows, metric, min_len), hide_index=True)


def encoders(df: pd.DataFrame) -> None:
    rows = df[df["suite"] == "encoders"]
    if rows.empty:
        return _empty("encoder-count results", "python run.py suite=encoders")
    metric = st.radio("metric", ["latency_ms_p50", "memory_mb", "tokens_per_s"], format_func=charts.METRICS.get,
                      horizontal=True, key="encoders_metric")
    for mode in sorted(rows["mode"].dropna().unique()):
        st.plotly_chart(charts.encoders_figure(rows, metric, mode), key=f"encoders_{mode}")
    if rows["routing_load_entropy_bits"].notna().any():
        st.plotly_chart(charts.router_figure(rows), key="encoders_router")
        st.caption("Routing statistics of the measured batch (untrained router; the timing profiles lift the "
                   "capacity limit, so nothing is dropped).")


def decode(df: pd.DataFrame) -> None:
    rows = df[df["suite"] == "decode"]
    if rows.empty:
        return _empty("generation results", "python run.py suite=decode")
    latency = rows[rows["sweep"] == "latency"]
    if not latency.empty:
        metric = st.radio("metric", list(charts.DECODE_METRICS), format_func=charts.DECODE_METRICS.get,
                          horizontal=True, key="decode_metric")
        for batch in sorted(latency["batch_size"].dropna().unique().astype(int)):
            st.plotly_chart(charts.decode_figure(rows, metric, batch), key=f"decode_{batch}")
        st.caption("Each model with and without CUDA graphs (dashed) where its step can be captured (the "
                   "Transformer then decodes from a StaticCache); compare solid with solid, dashed with dashed.")
    if (rows["sweep"] == "max_batch").any():
        st.plotly_chart(charts.max_batch_figure(rows), key="decode_max_batch")


def _selected_records(store: Path, df: pd.DataFrame) -> list[dict]:
    """The records behind the selected rows, every process of a pooled row."""
    selected = set(df["point_id"].dropna())
    if "process_point_ids" in df:
        selected |= {pid for ids in df["process_point_ids"] if isinstance(ids, list) for pid in ids}
    return [record for _, record in results.iter_records(store) if record.get("point_id") in selected]


def loss_curves(records: list[dict]) -> pd.DataFrame:
    """Long table of the loss curves of the fixed-seed runs among `records`."""
    rows = []
    for record in records:
        loss, config = record.get("loss"), record.get("config") or {}
        if isinstance(loss, dict) and loss.get("curve"):
            tokens_per_step = config.get("batch_size", 1) * config.get("seq_len", 1)
            label = f"{config.get('model')}/{config.get('preset')} {record.get('run_id', '')[:15]} #{config.get('repeat', 0)}"
            rows += [{"model": config.get("model"), "label": label, "tokens": (i + 1) * tokens_per_step, "loss": v}
                     for i, v in enumerate(loss["curve"]) if v is not None]
    return pd.DataFrame(rows, columns=["model", "label", "tokens", "loss"])


def quality(store: Path, df: pd.DataFrame) -> None:
    records = _selected_records(store, df)
    table = quality_report.bpb_table(records)
    if not table.empty:
        if table[["corpus", "tokenizer"]].drop_duplicates().shape[0] > 1:
            st.error("The selection mixes corpora or tokenizers; filter to one run: their bits per byte do not compare.")
        else:
            st.dataframe(table.sort_values("mean bpb"), hide_index=True)
            st.caption("Held-out bits per byte per domain (lower is better), each model trained from scratch on the "
                       "same tokens. Routed models scored with capacity limits ('limited') lose dropped chunks.")
    synthetic = quality_report.synthetic_table(records)
    if not synthetic.empty:
        synthetic_tasks(synthetic)
    curves = loss_curves(records)
    if curves.empty and table.empty and synthetic.empty:
        return _empty("training results", "python run.py suite=quality")
    if not curves.empty:
        st.plotly_chart(charts.loss_curves_figure(curves), key="quality_curves")
        st.caption("Seeded short runs on bigram data (suite=regression).")


def synthetic_tasks(table: pd.DataFrame) -> None:
    for task in sorted(table["task"].unique()):
        trained = max(int(n) for row in table.loc[table["task"] == task, "trained at"] for n in row.split("/"))
        st.plotly_chart(charts.synthetic_figure(table, task, 1 / TASKS[task].answers, trained), key=f"synthetic_{task}")
    st.dataframe(table, hide_index=True)
    st.caption("Synthetic tasks (harness.quality.synthetic_tasks): each model trained from scratch on each task, then scored "
               "on fresh sequences; lengths right of the dashed line were never trained on.")


def efficiency(df: pd.DataFrame) -> None:
    loss = df[(df["mode"] == "loss") & df["loss_final"].notna()]
    train = df[(df["mode"] == "train") & ~df["failed"] & (df["suite"] == "regression")]
    keys = ["model", "model.d_model", "gpu", "source"]
    keys = [k for k in keys if k in df.columns]
    points = (loss.groupby(keys, dropna=False)["loss_final"].median().to_frame()
              .join(train.groupby(keys, dropna=False)["latency_ms_p50"].median(), how="inner").reset_index())
    if points.empty:
        return _empty("points with both a fixed-seed loss and a training-step latency", "python run.py suite=regression")
    devices = sorted(points["gpu"].unique(), key=lambda g: (g == "cpu", g))  # a GPU first
    device = st.selectbox("device (a front only compares points measured on one)", devices, key="efficiency_device")
    points = points[points["gpu"] == device]
    points["label"] = points["model"] + " (" + points["source"].astype(str) + ")"
    st.plotly_chart(charts.pareto_figure(points, "latency_ms_p50", "loss_final",
                                         "training step latency, median over the suite's shapes (ms)",
                                         "loss after the fixed-seed run (nats/token)"), key="efficiency_pareto")
    st.dataframe(points, hide_index=True)


def default_pair(df: pd.DataFrame, sources: list[str]) -> tuple[int, int]:
    """Indices of the first two sources holding the same suites on the same GPU (comparable)."""
    kind = {s: (tuple(sorted(g["suite"].astype(str).unique())), tuple(sorted(g["gpu"].unique())))
            for s, g in df.groupby("source")}
    for i, a in enumerate(sources):
        for j in range(i + 1, len(sources)):
            if kind[a] == kind[sources[j]]:
                return i, j
    return 0, 1


def runs(store: Path, df: pd.DataFrame) -> None:
    sources = sorted(df["source"].dropna().unique())
    if len(sources) < 2:
        return _empty("pair of result directories to compare", "python run.py suite=regression results_dir=runs/<name>")
    first, second = default_pair(df, sources)
    left, right = st.columns(2)
    base = left.selectbox("baseline", sources, index=first, key="runs_baseline")
    cand = right.selectbox("candidate", sources, index=second, key="runs_candidate")
    threshold = st.slider("latency threshold", 0.02, 0.5, 0.10, 0.01, key="runs_threshold")
    try:
        result = compare.compare_runs(compare.load_run(str(store / base)), compare.load_run(str(store / cand)),
                                      compare.GateSettings(threshold=threshold))
    except UserError as exc:
        st.warning(f"Not comparable: {exc}")
    else:
        (st.success if result["passed"] else st.error)(compare_report.summary(result))
        table = pd.DataFrame([compare_report.row(p) for p in result["points"]], columns=compare_report.COLUMNS)
        st.dataframe(table, hide_index=True)
    env_cols = ["source", "gpu", "torch_version", "cuda_version", "mamba_ssm_version", "transformers_version",
                "driver_version", "git_sha", "dtype"]
    env = df[df["source"].isin([base, cand])][[c for c in env_cols if c in df.columns]].drop_duplicates()
    st.caption("environment of each run")
    st.dataframe(env, hide_index=True)


def achieved(df: pd.DataFrame, store) -> None:
    ceilings = data.load_ceilings(store)
    rows = charts.achieved_table(df, ceilings)
    if rows.empty:
        return _empty("GPU results with a measured ceiling",
                      "python -m benchmarks.ceilings --out <store>/ceilings.json, and python run.py suite=scaling")
    st.plotly_chart(charts.achieved_figure(rows), key="achieved")
    shown = sorted(set(rows["gpu"]))
    st.caption("Model FLOPs are analytic (params and attention/scan terms); ceilings, per GPU: " + "; ".join(
        f"{g}: best BF16 GEMM measured {ceilings[g]['measured']:.0f} TF/s (datasheet "
        f"{ceilings[g]['spec'] or float('nan'):.0f})"
        + (f", device copy {ceilings[g]['copy_gb_s']:.0f} GB/s" if ceilings[g].get("copy_gb_s") else "") for g in shown))
    st.dataframe(rows[["model", "mode", "seq_len", "achieved_tflops", "share_of_measured", "share_of_spec"]],
                 hide_index=True)


VERDICT_COLOURS = {"supported": "#d4edda", "refuted": "#f8d7da", "inconclusive": "#fff3cd", "not measured": "#e2e3e5",
                   "filtered out": "#e2e3e5"}


def claims_rows(selected: pd.DataFrame, whole: pd.DataFrame) -> pd.DataFrame:
    """The ledger over the selected points; a claim the selection cannot decide but the whole
    store can is `filtered out` (with the store's verdict), not `not measured`."""
    chosen = claims_ledger.evaluate_all(selected, CLAIMS)
    unfiltered = len(selected) == len(whole) or not any(r["verdict"] == "not measured" for r in chosen)
    everywhere = {r["id"]: r for r in (chosen if unfiltered else claims_ledger.evaluate_all(whole, CLAIMS))}
    rows = []
    for r in chosen:
        verdict, detail = r["verdict"], r["detail"]
        store_verdict = everywhere[r["id"]]["verdict"]
        if verdict == "not measured" and store_verdict != "not measured":
            verdict, detail = "filtered out", f"the sidebar filters leave out its points (whole store: {store_verdict})"
        rows.append({"verdict": verdict, "claim": r["text"], "key figure": detail,
                     "claim's conditions": r["claim_conditions"], "rule": r["rule"], "source": r["source"],
                     "points": ", ".join(r["points"])})
    return pd.DataFrame(rows)


def claims(df: pd.DataFrame, whole: pd.DataFrame | None = None) -> None:
    """The claims ledger (harness.analysis.claims) over the selected points of one GPU (a ratio
    never mixes two), verdicts coloured."""
    whole = df if whole is None else whole
    devices = list(dict.fromkeys(claims_ledger.device_of(whole.sort_values("created_at", ascending=False))
                                 if "created_at" in whole else claims_ledger.device_of(whole)))
    if len(devices) > 1:
        device = st.selectbox("GPU (one ledger per GPU)", devices, key="claims_device")
        df, whole = df[claims_ledger.device_of(df) == device], whole[claims_ledger.device_of(whole) == device]
    view = claims_rows(df, whole)
    counts = view["verdict"].value_counts()
    st.caption(" · ".join(f"{n} {v}" for v, n in counts.items())
               + ". Verdicts come from the selected points only; `swarm-bench claims store=<dir>` writes the report.")
    shown = st.multiselect("verdict", list(VERDICT_COLOURS), default=[v for v in VERDICT_COLOURS if v in counts.index],
                           key="claims_verdicts")
    view = view[view["verdict"].isin(shown)]
    styled = view.style.apply(lambda col: [f"background-color: {VERDICT_COLOURS.get(v, '')}" for v in col],
                              subset=["verdict"])
    st.dataframe(styled, hide_index=True, height=min(38 * (len(view) + 1), 900), column_config={
        "claim": st.column_config.TextColumn(width="large"), "key figure": st.column_config.TextColumn(width="large"),
        "rule": st.column_config.TextColumn(width="medium")})


def table(df: pd.DataFrame) -> None:
    failed = df[df["failed"]]
    if not failed.empty:
        st.warning(f"{len(failed)} failed point(s) in the selection: "
                   + ", ".join(f"{s} {n}" for s, n in failed["status"].value_counts().items()))
    st.dataframe(df, hide_index=True)
    st.download_button("download CSV", df.to_csv(index=False).encode(), "swarm-bench-results.csv", "text/csv",
                       key="download_csv")
