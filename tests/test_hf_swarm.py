"""The swarm as a transformers model (models.swarm.hf_swarm) and the quality suite's kept
checkpoints (suite.keep_checkpoints): the config round-trips, save_pretrained / from_pretrained
give the same logits for both encoder types, the loss shifts labels as transformers does,
greedy `generate` gives GreedyDecoder's tokens feeding one new token per step, and a kept
checkpoint scores as its record says (CPU, tiny presets)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM

from harness.quality import corpus_build
from harness.run.runner import run_sweep
from harness.store import results
from harness.tasks import quality_checkpoint
from models import registry
from models.generation import GreedyDecoder
from models.swarm import hf_swarm
from models.swarm.hf_swarm import HFSwarmConfig, SwarmForCausalLM
from suites.quality import build_points
from tests.test_corpus import sources  # noqa: F401  (the fixture corpus)
from tests.test_quality import CPU, params

VOCAB = 64
VARIANTS = {
    "swarm": ("swarm", {}),
    "transformer_swarm": ("transformer_swarm", {}),
    "swarm-domains-shared": ("swarm", {"domains": ["a", "b"], "generalists": 1, "share_rank": 8}),
}


def swarm_lm(name: str, overrides: dict):
    config = registry.resolve_config(name, "tiny", {"vocab_size": VOCAB, **overrides})
    return registry.build(name, config).eval()


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_round_trips_and_registration_is_idempotent(variant):
    cfg = swarm_lm(*VARIANTS[variant]).cfg
    hf_swarm.register()  # again: already registered on import
    loaded = AutoConfig.for_model(hf_swarm.MODEL_TYPE, **dataclasses.asdict(cfg))
    assert isinstance(loaded, HFSwarmConfig) and loaded.to_swarm() == cfg
    assert HFSwarmConfig.from_swarm(cfg).to_swarm() == cfg and loaded.tie_word_embeddings


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_and_load_give_the_same_logits(variant, tmp_path):
    lm = swarm_lm(*VARIANTS[variant])
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    model = hf_swarm.wrap(lm)
    assert model.swarm is lm  # wrapped, not copied, and its weights untouched
    assert all(torch.equal(v, lm.state_dict()[k]) for k, v in before.items())
    idx = torch.randint(0, VOCAB, (2, 21))
    expected = lm(idx)[0]
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:  # the tied head is stored once, as the embedding
        assert "swarm.embedding.weight" in f.keys() and "swarm.lm_head.weight" not in f.keys()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(loaded) is SwarmForCausalLM and not loaded.training
    assert loaded.swarm.lm_head.weight is loaded.swarm.embedding.weight
    for name, buffer in lm.named_buffers():  # the non-persistent domain tables, rebuilt from the config
        assert torch.equal(loaded.swarm.get_buffer(name), buffer), name
    torch.testing.assert_close(loaded(idx).logits, expected, rtol=0, atol=0)


def test_loss_shifts_the_labels_and_adds_the_router_losses():
    model = hf_swarm.wrap(swarm_lm("swarm", {}))
    idx = torch.randint(0, VOCAB, (2, 16))
    labels = idx.clone()
    labels[0, 5] = -100
    out = model(idx, labels=labels)
    expected_lm = F.cross_entropy(out.logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)
    aux, cfg = model.swarm.last_aux, model.swarm.cfg
    torch.testing.assert_close(aux["lm"], expected_lm)
    torch.testing.assert_close(out.loss, expected_lm + cfg.balance_weight * aux["balance"] + cfg.z_weight * aux["z"])
    assert model(idx)[0] is not None and model(idx).loss is None  # [0] is the logits, as score_stream reads them


def greedy_decoder_tokens(lm, prompt: torch.Tensor, n: int) -> torch.Tensor:
    decoder = GreedyDecoder(lm)
    tokens = [decoder.prefill(prompt).argmax(-1)]
    for _ in range(n - 1):
        tokens.append(decoder.step().argmax(-1))
    return torch.stack(tokens, 1)  # (B, n)


@pytest.mark.parametrize("variant", VARIANTS)
def test_greedy_generate_gives_the_greedy_decoders_tokens(variant, tmp_path):
    hf_swarm.wrap(swarm_lm(*VARIANTS[variant])).save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    prompt = torch.randint(0, VOCAB, (2, 13))  # chunk_len 8: the prompt ends in a partial chunk; 12 tokens cross two
    out = model.generate(prompt, do_sample=False, max_new_tokens=12)
    assert torch.equal(out[:, :13], prompt)
    assert torch.equal(out[:, 13:], greedy_decoder_tokens(model.swarm, prompt, 12))


def test_generate_feeds_each_step_only_the_new_token():
    model = hf_swarm.wrap(swarm_lm("swarm", {}))
    calls, full_forwards = [], []
    model.register_forward_pre_hook(
        lambda m, args, kwargs: calls.append((tuple(kwargs["input_ids"].shape), kwargs.get("swarm_state") is not None)),
        with_kwargs=True)
    model.swarm.register_forward_pre_hook(lambda m, args: full_forwards.append(args[0].shape))
    model.generate(torch.randint(0, VOCAB, (2, 13)), do_sample=False, max_new_tokens=6)
    assert calls == [((2, 13), False)] + [((2, 1), True)] * 5
    assert full_forwards == []  # the prompt ran through prefill, every new token through step: no recomputation
    calls.clear()
    model.generate(torch.randint(0, VOCAB, (2, 13)), do_sample=False, max_new_tokens=3, use_cache=False)
    assert calls == [((2, 13), False), ((2, 14), False), ((2, 15), False)] and len(full_forwards) == 3


def test_beam_search_and_padding_are_refused():
    model = hf_swarm.wrap(swarm_lm("swarm", {}))
    prompt = torch.randint(0, VOCAB, (2, 9))
    with pytest.raises(ValueError, match="beam search"):
        model.generate(prompt, num_beams=2, max_new_tokens=2)
    with pytest.raises(ValueError, match="padding"):
        model(prompt, attention_mask=torch.tensor([[0] + [1] * 8, [1] * 9]))
    with pytest.raises(ValueError, match="only SwarmLM"):
        hf_swarm.wrap(swarm_lm("transformer_swarm_full", {}))


QUALITY_MODELS = [{"model": "swarm", "overrides": {"n_encoders": 4, "top_k": 1}},
                  {"model": "transformer", "match": "params_active"}, {"model": "mamba", "match": "params_active"}]


def test_keep_checkpoints_changes_only_the_ids_of_the_points_it_keeps(sources, tmp_path):  # noqa: F811
    corpus_build.build(sources)
    plain, _ = build_points(params(sources.out, models=QUALITY_MODELS), CPU)
    kept, _ = build_points(params(sources.out, models=QUALITY_MODELS, keep_checkpoints=True), CPU)
    assert all("keep_checkpoint" not in p.config for p in plain)
    assert [p.config.get("keep_checkpoint") for p in kept] == [True, True, None]
    assert kept[2].config == plain[2].config  # mamba cannot be saved: its point is the same point


def test_kept_checkpoints_load_and_score_as_their_records_say(sources, tmp_path):  # noqa: F811
    corpus_build.build(sources)
    store = tmp_path / "store"
    points, _ = build_points(params(sources.out, models=QUALITY_MODELS[:2], keep_checkpoints=True), CPU)
    rows = run_sweep(points, str(store), progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"], [r.get("error") for r in rows]
    for path, record in results.iter_records(store):
        checkpoint = Path(record["quality"]["checkpoint"])
        assert checkpoint == path.with_suffix(".checkpoint") and (checkpoint / "model.safetensors").is_file()
        scored = quality_checkpoint.evaluate(checkpoint)
        assert scored["recorded_bpb_mean"] == record["quality"]["test_bpb_mean"]
        assert scored["test_bpb_mean"] == pytest.approx(record["quality"]["test_bpb_mean"], rel=1e-6)
        for domain, score in record["quality"]["test"].items():
            assert scored["test"][domain]["tokens"] == score["tokens"]
            assert scored["test"][domain]["nll"] == pytest.approx(score["nll"], rel=1e-6)
