"""Quality claims: the 5-encoder swarm at 105% and a single Mamba at 95% of the Transformer's
performance, read as held-out bits per byte of the corpus runs (suite=quality), paired seed by
seed with the active-matched Transformer. Routed models count only when scored without capacity
drops, and results from different corpora or tokenizers are never mixed.
"""
from __future__ import annotations

import pandas as pd

from harness.analysis.claims import Claim, Finding, conditions, not_measured
from harness.analysis.claims_rows import SRC, ok_rows
from harness.analysis.claims_speed import transformer_10x_slower

QUALITY_TOLERANCE = 1.02  # a quality percentage ("105%") is read as that ratio within 2%, seed by seed


def _quality_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Quality records scored without capacity drops, from one corpus and tokenizer only."""
    rows = ok_rows(df, suite="quality")
    if rows.empty or not {"label", "test_bpb_mean", "corpus_id", "tokenizer_sha256"} <= set(rows):
        return rows.iloc[0:0], None
    rows = rows[rows["test_bpb_mean"].notna()]  # corpus runs only, not the synthetic tasks
    routed = rows["model"].isin(["swarm", "transformer_swarm", "mamba_moe"])
    capacity = rows["eval_capacity"] if "eval_capacity" in rows else pd.Series(None, index=rows.index)
    rows = rows[~routed | (capacity == "unlimited")]  # capacity limits only change routed models' scores
    if rows.empty:
        return rows, None
    mixed = rows[["corpus_id", "tokenizer_sha256"]].drop_duplicates()
    if len(mixed) > 1:
        return rows.iloc[0:0], f"{len(mixed)} corpora/tokenizers in the store: quality results are not mixed"
    return rows, None


def _paired_ratios(df: pd.DataFrame, label: str, needs: str) -> tuple[Finding | None, pd.DataFrame, dict]:
    """Per seed both ran: bpb(transformer) / bpb(label) (columns ratio, mine, trans and their point
    ids), and the conditions of the first pair."""
    rows, refusal = _quality_rows(df)
    if refusal:
        return Finding("not measured", refusal), pd.DataFrame(), {}
    if rows.empty or "seed" not in rows:
        return not_measured(needs), pd.DataFrame(), {}
    mine = rows[rows["label"] == label].drop_duplicates("seed").set_index("seed")
    trans = rows[rows["label"] == "transformer"].drop_duplicates("seed").set_index("seed")
    seeds = mine.index.intersection(trans.index)
    if seeds.empty:
        return not_measured(needs), pd.DataFrame(), {}
    paired = pd.DataFrame({"ratio": trans.loc[seeds, "test_bpb_mean"] / mine.loc[seeds, "test_bpb_mean"],
                           "mine": mine.loc[seeds, "test_bpb_mean"], "trans": trans.loc[seeds, "test_bpb_mean"],
                           "mine_id": mine.loc[seeds, "point_id"], "trans_id": trans.loc[seeds, "point_id"]})
    return None, paired, conditions(mine.loc[seeds[0]], trans.loc[seeds[0]])


def _ratio_text(paired: pd.DataFrame, what: str) -> str:
    per_seed = ", ".join(f"{r:.3f}" for r in paired["ratio"])
    return (f"{what} = {paired['ratio'].mean():.3f} over {len(paired)} seed(s) [{per_seed}] "
            f"({paired['trans'].mean():.3f} vs {paired['mine'].mean():.3f} bits/byte)")


def quality_swarm_105(df: pd.DataFrame) -> Finding:
    finding, paired, where = _paired_ratios(df, "swarm-5", "suite=quality: swarm-5 and the active-matched transformer, "
                                     "scored without capacity drops")
    if finding:
        return finding
    rows, _ = _quality_rows(df)
    near = 1.05 / QUALITY_TOLERANCE
    verdict = ("supported" if (paired["ratio"] >= near).all() else
               "refuted" if (paired["ratio"] < near).all() else "inconclusive")
    mamba = rows.loc[rows["label"] == "mamba", "test_bpb_mean"]
    versus = f"; a single Mamba of the same active size: {mamba.mean():.3f}" if not mamba.empty else ""
    return Finding(verdict, _ratio_text(paired, "bpb(Transformer)/bpb(5-encoder swarm)") + f"; claimed 1.05{versus}",
                   {"ratio": paired["ratio"].mean(), "per_seed": paired["ratio"].round(4).tolist()}, where,
                   [*paired["mine_id"], *paired["trans_id"]])


def quality_mamba_95(df: pd.DataFrame) -> Finding:
    finding, paired, where = _paired_ratios(df, "mamba", "suite=quality: mamba and the active-matched transformer, "
                                     "scored the same way")
    if finding:
        return finding
    speed = transformer_10x_slower(df)
    quality_ok = (paired["ratio"] >= 0.95 / QUALITY_TOLERANCE).all()
    verdict = "supported" if quality_ok and speed.verdict == "supported" else (
        "refuted" if not quality_ok or speed.verdict == "refuted" else "inconclusive")
    return Finding(verdict, _ratio_text(paired, "bpb(Transformer)/bpb(Mamba)") + f"; efficiency: {speed.detail}",
                   {"bpb_ratio": paired["ratio"].mean(), "latency_ratio": speed.measured.get("ratio")}, where,
                   [*paired["mine_id"], *paired["trans_id"], *speed.points])


CLAIMS = [
    Claim("quality_swarm_105", "5-Encoder Swarm: 105% of Transformer performance (ensemble effect)", f"{SRC}:126",
          "'projected'; metric unstated", "suite=quality (held-out bits per byte at matched parameters and tokens)",
          "Read as bpb(Transformer)/bpb(swarm-5) = 1.05 within 2%, per seed (same tokens, scored without "
          "capacity drops): supported when every seed reaches 1.05/1.02, refuted when none does, else "
          "inconclusive.", quality_swarm_105),
    Claim("quality_mamba_95", "Single Mamba: 95% of Transformer performance at 10x efficiency", f"{SRC}:125",
          "'projected'; metric unstated", "suite=quality and suite=scaling",
          "Read as bpb(Transformer)/bpb(Mamba) >= 0.95/1.02 on every seed and the transformer_10x claim supported.",
          quality_mamba_95),
]
