"""model=hf (models.hf_model): any transformers causal LM by architecture name or config file,
sized by the presets, with the run's vocabulary; its logits are transformers' own and causal,
its decode steps equal its forward, matching solves for its depth, its counts and FLOPs
estimate follow the architecture, its mistakes are one-line errors, and `run.py model=hf`
works end to end (CPU, tiny sizes)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

from harness.measure.env import REPO_ROOT
from models import matching, registry
from models.errors import ModelConfigError
from tests.limits import limit

VOCAB = 64
MAMBA2 = {"config": "mamba2", "options": {"num_heads": 2, "head_dim": 64, "n_groups": 1}}  # heads x 64 = 2 x d_model
JAMBA = {"config": "jamba", "options": {"attn_layer_period": 2, "attn_layer_offset": 1, "expert_layer_period": 2,
                                        "expert_layer_offset": 1, "num_experts": 4}}  # both layer kinds in 2 layers
ARCHITECTURES = [{}, {"config": "gpt2"}, {"config": "mistral"}, {"config": "mamba"}, MAMBA2, JAMBA]


def _config(overrides: dict, preset: str = "tiny") -> dict:
    return registry.resolve_config("hf", preset, {"vocab_size": VOCAB, **overrides})


def _tiny(overrides: dict, preset: str = "tiny"):
    torch.manual_seed(0)
    return registry.build("hf", _config(overrides, preset)).eval()


def _write(path, values: dict) -> str:
    path.write_text(json.dumps(values))
    return str(path)


def _sizes(model) -> dict:
    c = model.causal_lm.config
    return {k: getattr(c, k, None) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                             "num_key_value_heads", "intermediate_size", "vocab_size")}


def test_the_presets_size_a_llama_by_default():
    model = _tiny({})
    assert type(model.causal_lm).__name__ == "LlamaForCausalLM"
    # intermediate_size keeps Llama's 11008 / 4096; MHA as Llama's defaults are
    assert _sizes(model) == {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                             "num_key_value_heads": 4, "intermediate_size": 172, "vocab_size": VOCAB}
    assert _sizes(_tiny({"config": "mistral"}))["num_key_value_heads"] == 1  # Mistral's 4 query heads per KV head
    assert _sizes(_tiny({"config": "mamba"}))["intermediate_size"] == 128  # expand 2; no heads to set


@pytest.mark.parametrize("overrides", ARCHITECTURES, ids=lambda o: o.get("config", "llama"))
def test_logits_are_transformers_own_and_causal(overrides):
    model = _tiny(overrides)
    idx = torch.randint(0, VOCAB, (2, 37))
    changed = idx.clone()
    changed[:, 20:] = (changed[:, 20:] + 1) % VOCAB
    with torch.no_grad():
        logits, _ = model(idx)
        logits_changed, _ = model(changed)
        reference = model.causal_lm(input_ids=idx).logits
    torch.testing.assert_close(logits, reference, rtol=0, atol=1e-5)
    torch.testing.assert_close(logits[:, :20], logits_changed[:, :20], rtol=0, atol=1e-5)
    assert not torch.allclose(logits[:, 20:], logits_changed[:, 20:])
    assert "cuda" not in model.kernel_backend() != "not run"


@pytest.mark.parametrize("overrides", [{}, {"config": "gpt2"}, {"config": "mamba"}, MAMBA2],
                         ids=lambda o: o.get("config", "llama"))
def test_decode_steps_equal_the_forward(overrides):
    model = _tiny(overrides)
    idx = torch.randint(0, VOCAB, (2, 20))
    with torch.no_grad():
        full, _ = model(idx)
        logits, state = model.prefill(idx[:, :12])
        stepped = [logits]
        for t in range(12, 19):
            logits, state = model.step(idx[:, t], state)
            stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, dim=1), full[:, 11:19], rtol=1e-4, atol=1e-4)
    assert model.last_step_backend.endswith("+dynamic_cache")


def test_a_config_file_is_read_once_into_the_resolved_config(tmp_path):
    path = _write(tmp_path / "config.json", {"model_type": "gpt2", "n_embd": 96, "n_layer": 3, "n_head": 3,
                                             "vocab_size": 50257, "transformers_version": "4.40.0"})
    native = _config({"config": path}, preset="native")
    assert native["config"] == "gpt2" and native["options"] == {"n_embd": 96, "n_layer": 3, "n_head": 3}
    (tmp_path / "config.json").unlink()  # the resolved config builds without the file
    model = registry.build("hf", native)
    assert _sizes(model)["hidden_size"] == 96 and _sizes(model)["num_hidden_layers"] == 3
    assert model.causal_lm.config.bos_token_id is None  # GPT-2's 50256 is outside the run's vocabulary
    assert _sizes(_tiny({"config": "gpt2", "options": native["options"]}))["hidden_size"] == 64  # presets win


def test_values_a_file_derives_follow_the_sizes(tmp_path):
    # Mamba derives intermediate_size (expand x hidden_size): the file's 2 x 256 must not stay at d_model 64
    path = _write(tmp_path / "mamba.json", {"model_type": "mamba", "hidden_size": 256, "num_hidden_layers": 4})
    config = _config({"config": path})
    assert config["options"] == {"hidden_size": 256, "num_hidden_layers": 4}
    assert _sizes(registry.build("hf", config))["intermediate_size"] == 128


def test_options_set_keys_and_attention_implementation():
    # KV heads alone are absolute; with the query heads they give the group size that n_head keeps
    model = _tiny({"options": {"num_key_value_heads": 2, "rms_norm_eps": 1e-6}, "attn_implementation": "eager"})
    assert model.causal_lm.config.rms_norm_eps == 1e-6 and _sizes(model)["num_key_value_heads"] == 2
    assert _sizes(_tiny({"options": {"num_attention_heads": 8, "num_key_value_heads": 2}}))["num_key_value_heads"] == 1
    assert _sizes(_tiny({"options": {"intermediate_size": 100}}))["intermediate_size"] == 100
    with torch.no_grad():
        model(torch.randint(0, VOCAB, (1, 8)))
    assert model.kernel_backend() == "attn_eager"


def test_matching_solves_for_the_depth():
    target = matching.count_params("mamba", registry.resolve_config("mamba", "small", {"vocab_size": 1000}))
    base = registry.resolve_config("hf", "small", {"vocab_size": 1000})
    matched = matching.match_depth("hf", base, target)
    count = matching.count_params("hf", matched)
    per_layer = matching.count_params("hf", {**matched, "n_layer": matched["n_layer"] + 1}) - count
    assert per_layer > 0 and abs(count - target) <= per_layer / 2
    assert _sizes(registry.build("hf", {**matched, "vocab_size": VOCAB}))["num_hidden_layers"] == matched["n_layer"]


def test_flops_estimate_counts_matmuls_and_attention():
    llama, mamba = _tiny({}), _tiny({"config": "mamba"})
    attention = 2 * 2 * (2 * 64 * 100 / 2)  # 2 layers x 2 FLOPs x (QK^T and AV of width 64 over L / 2) MACs
    assert llama.flops_per_token(100) == 2 * (llama.num_params() - VOCAB * 64) + attention  # untied: lookup left out
    assert mamba.flops_per_token(100) == 2 * mamba.num_params()  # tied: the one V x 64 matrix is the head


def test_routed_experts_count_only_the_chosen_ones_as_active():
    model = _tiny({"config": "mixtral", "options": {"num_local_experts": 4, "num_experts_per_tok": 1}})
    routed = sum(p.numel() for n, p in model.named_parameters() if ".experts." in n)
    assert routed and model.num_params(active=True) == model.num_params() - routed * 3 // 4


@pytest.mark.parametrize("overrides, message", [
    ({"config": "lama"}, re.escape("model[hf].config='lama' is neither a config JSON file nor a causal-LM architecture "
                                   "of transformers ") + ".*; did you mean llama.* valid: .*gpt2.*mamba2.*qwen2"),
    ({"config": "missing.json"}, r"model\[hf\].config='missing.json': cannot read it \(No such file"),
    ({"options": {"hiden_size": 8}}, r"unknown key model\[hf\].options.hiden_size for llama; valid keys: .*hidden_size"),
    ({"options": {"vocab_size": 8}}, "the vocabulary is the run's"),
    ({"config": "gpt2", "d_ff": 100}, "d_ff=100: gpt2's config has no intermediate_size"),
    ({"d_model": 66}, r"The hidden size \(66\) is not a multiple of the number of attention heads \(4\)"),
    ({"config": "mamba2"}, r"hidden_size \* expand \(128\) must equal num_heads \* head_dim"),
])
def test_mistakes_are_one_line_model_config_errors(overrides, message):
    with pytest.raises(ModelConfigError, match=message) as caught:
        registry.build("hf", _config(overrides))
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize("text, message", [("{not json", "not JSON"), ('{"n_embd": 8}', "a JSON object with a model_type")])
def test_a_bad_config_file_is_a_model_config_error(tmp_path, text, message):
    (tmp_path / "c.json").write_text(text)
    with pytest.raises(ModelConfigError, match=message):
        _config({"config": str(tmp_path / "c.json")})


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=limit(180))


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["llama", "mamba"])
def test_model_hf_runs_end_to_end_from_the_command_line(tmp_path, architecture):
    if architecture == "llama":
        args = ["model=hf", "model.config=llama"]  # a name, sized by the suite's tiny preset
    else:  # a config file with its own sizes
        args = ["model=hf", "model.preset=native", "model.config=" + _write(
            tmp_path / "mamba.json", {"model_type": "mamba", "hidden_size": 32, "num_hidden_layers": 2})]
    out = _run("suite=smoke", *args, "suite.modes=[forward]", "suite.seq_lens=[32]", f"results_dir={tmp_path}",
               "device=cpu", "progress=false")
    assert out.returncode == 0, out.stderr
    assert re.search(r"hf\s+forward\s+2\s+32\s+ok", out.stdout)
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "smoke").glob("*.json")]
    assert record["status"] == "ok" and record["config"]["model_config"]["config"] == architecture
    assert record["config"]["model_config"]["vocab_size"] == 16384  # the run's
    expected = "attn_sdpa" if architecture == "llama" else "ssm_torch_reference"
    assert record["model_info"]["backend"] == expected and record["model_info"]["flops_per_token"] > 0


@pytest.mark.slow
def test_an_unknown_architecture_on_the_command_line_is_one_line_exit_2():
    out = _run("suite=smoke", "model=hf", "model.config=lama")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith("error: model[hf].config='lama' is neither") and "did you mean llama" in out.stderr


def test_state_bytes_count_a_transformers_mamba_cache():
    """transformers' Mamba cache keeps conv and recurrent states, not keys and values."""
    from models.generation import state_nbytes

    config = registry.resolve_config("hf", "tiny", {"vocab_size": 64, "config": "mamba"})
    model = registry.build("hf", config).eval()
    with torch.no_grad():
        logits, state = model.prefill(torch.randint(0, 64, (2, 10)))
        first = state_nbytes(state)
        _, state = model.step(logits.argmax(-1), state)
    assert first > 0 and state_nbytes(state) == first  # a recurrent state does not grow
