"""Score a checkpoint that `suite=quality suite.keep_checkpoints=true` kept, later or elsewhere:
`<store>/quality/<point_id>.checkpoint/` (transformers' save_pretrained, safetensors) beside
`<point_id>.json`, the record of the point that trained it. The model is loaded with
`AutoModelForCausalLM.from_pretrained` (the swarm's model type is registered by importing
models.swarm.hf_swarm) and scored on the corpus's test split as the point was
(harness.tasks.corpus_quality.score_test_split: harness.quality.evaluate's rolling
log-likelihood, capacity limits off), with the corpus and tokenizer checked against the
point's. On the point's device and dtype the numbers are the record's.

    python -m harness.tasks.quality_checkpoint results/quality/<point_id>.checkpoint [--device cpu] [--dtype fp32]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from harness.store import results
from harness.tasks import corpus_quality
from harness.tasks.model_setup import DTYPES


def evaluate(checkpoint: str | Path, device: str | None = None, dtype: str | None = None) -> dict:
    """{"test": per-domain nll, tokens, bytes, ppl, bpb; "test_bpb_mean"; "recorded_bpb_mean": the
    record's} for a kept checkpoint; device and dtype (fp32 | bf16 | fp16) default to the point's."""
    from transformers import AutoModelForCausalLM

    import models.swarm.hf_swarm  # noqa: F401  (registers the swarm's model type)

    checkpoint = Path(checkpoint)
    record = results.read_record(checkpoint.with_suffix(".json"))
    if record is None:
        raise FileNotFoundError(f"no readable record {checkpoint.with_suffix('.json')} beside the checkpoint")
    point = record["config"]
    run_on = torch.device(device or point["device"])
    _, _, codec = corpus_quality.load_corpus(point)
    test = corpus_quality.domain_streams(Path(point["corpus"]), codec, "test")
    model = AutoModelForCausalLM.from_pretrained(checkpoint).to(run_on)
    scores = corpus_quality.score_test_split(model, test, codec, point, run_on, DTYPES[dtype or point["dtype"]])
    return {"test": scores, "test_bpb_mean": float(np.mean([s["bpb"] for s in scores.values()])),
            "recorded_bpb_mean": record["quality"]["test_bpb_mean"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="<store>/quality/<point_id>.checkpoint")
    parser.add_argument("--device", help="default: the point's")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="default: the point's")
    args = parser.parse_args(argv)
    print(json.dumps(evaluate(args.checkpoint, args.device, args.dtype), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
