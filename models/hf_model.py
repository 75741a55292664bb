"""Any causal-LM architecture that Hugging Face `transformers` ships, with random weights.

Follows how optimum-benchmark and lm-evaluation-harness name a model by its transformers
config: `config` is a `model_type` (llama, mistral, qwen2, gpt2, mamba, mamba2, jamba, ...: the
keys of transformers' MODEL_FOR_CAUSAL_LM_MAPPING_NAMES) or the path of a config JSON file, and
the model is `AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **keys))`, as
models.transformer builds its LlamaForCausalLM. A file is read once, when the config is
resolved: its keys that differ from the architecture's defaults move into `options` and
`config` becomes its model_type, so a record carries everything that built the model and a
worker never reads the file.

The keys, in transformers' names: the architecture's defaults, then the file's, then `options`
(the base); then the sizes, where set, win (the presets set d_model, n_layer and n_head;
`native` sets none): `d_model` is hidden_size, `n_layer` num_hidden_layers (the depth
models.matching solves for), `n_head` num_attention_heads (skipped by an architecture without
attention heads, such as Mamba), `d_ff` intermediate_size. Unless set, intermediate_size keeps
the base's ratio to hidden_size, and num_key_value_heads the base's query heads per KV head;
`options` that state either one without what it relates to make it absolute. The vocabulary is
always the run's `vocab_size`; special-token ids outside it (another tokenizer's) are dropped.
The default architecture is llama, so `tiny` is a 2-layer Llama of width 64.

`flops_per_token` is an estimate: 2 FLOPs per active weight of every matrix multiply (the
head included, embedding lookups not), plus, per attention layer (modules named *Attention),
QK^T and AV over the causal half of the context at full attention (sliding windows ignored).
MoE architectures count `num_experts_per_tok` of their experts as active.
"""
from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import inspect
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Optional

import torch.nn as nn
from torch import Tensor

from models.errors import ModelConfigError
from models.family import ModelEntry
from models.lm_base import LanguageModel, head_and_loss

SIZES = {"d_model": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
         "d_ff": "intermediate_size"}
# Keys of a file that describe it, not the model.
META_KEYS = frozenset({"model_type", "transformers_version", "architectures", "dtype", "torch_dtype", "_name_or_path",
                       "auto_map"})
TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id")
EXPERT_COUNTS = ("num_local_experts", "num_experts", "n_routed_experts")
# The forward's cache keyword: transformers 5.24 names it `cache`; 5.17 `past_key_values`, or
# `cache_params` for the Mamba family.
CACHE_KEYS = ("cache", "past_key_values", "cache_params")
SSM_KERNELS = ("mamba_ssm", "causal_conv1d")  # what transformers calls instead of its reference, if installed


@dataclass
class HFConfig:
    config: str = "llama"  # a transformers causal-LM model_type, or the path of a config JSON file
    options: dict = field(default_factory=dict)  # config keys over the architecture's (or the file's)
    vocab_size: int = 16384
    d_model: Optional[int] = None  # hidden_size; None: the base's
    n_layer: Optional[int] = None  # num_hidden_layers; None: the base's
    n_head: Optional[int] = None  # num_attention_heads; None: the base's
    d_ff: Optional[int] = None  # intermediate_size; None: the base's ratio to hidden_size
    attn_implementation: Optional[str] = None  # sdpa | eager | ...; None: transformers' choice

    def __post_init__(self):
        if _is_path(self.config):
            self.config, values = _read_file(self.config)
            self.options = {**values, **self.options}
        _architecture(self.config)
        if "vocab_size" in self.options:
            raise ModelConfigError("model[hf].options.vocab_size: the vocabulary is the run's; set vocab_size=N")
        valid = _valid_keys(self.config)
        unknown = sorted(set(self.options) - valid)
        if unknown:
            raise ModelConfigError(f"unknown key model[hf].options.{unknown[0]} for {self.config}; valid keys: "
                                   f"{', '.join(sorted(valid))}")


PRESETS = {
    "tiny": dict(d_model=64, n_layer=2, n_head=4),
    "small": dict(d_model=256, n_layer=4, n_head=4),
    "base": dict(d_model=768, n_layer=12, n_head=12),
    "native": {},  # the architecture's (or the file's) own sizes
}


def _is_path(config: str) -> bool:
    return config.endswith(".json") or os.sep in config


@contextlib.contextmanager
def _transformers_errors(what: str):
    """transformers' and its strict configs' errors as one-line ModelConfigErrors about `what`."""
    from huggingface_hub.errors import StrictDataclassError

    try:
        yield
    except (ValueError, TypeError, ImportError, StrictDataclassError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ModelConfigError(f"{what}: {lines[-1] if lines else type(exc).__name__}") from None


@functools.cache
def _architecture(model_type: str) -> tuple[type, dict]:
    """The config class of a causal-LM `model_type` and its defaults (to_dict)."""
    import transformers
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        valid = sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
        close = difflib.get_close_matches(model_type, valid, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ModelConfigError(f"model[hf].config={model_type!r} is neither a config JSON file nor a causal-LM "
                               f"architecture of transformers {transformers.__version__}{hint} valid: {', '.join(valid)}")
    cls = CONFIG_MAPPING[model_type]
    with _transformers_errors(f"model[hf].config={model_type!r}: its default config"):
        return cls, cls().to_dict()


@functools.cache
def _arguments(model_type: str) -> frozenset:
    """The config constructor's arguments: what the architecture takes as a setting (Mamba's
    intermediate_size is not one: it derives it from expand)."""
    return frozenset(inspect.signature(_architecture(model_type)[0].__init__).parameters) - {"self", "kwargs"}


@functools.cache
def _valid_keys(model_type: str) -> frozenset:
    """Keys `options` may set: the config's attributes, their aliases and its constructor's arguments."""
    cls, defaults = _architecture(model_type)
    return frozenset((set(defaults) | set(cls.attribute_map) | _arguments(model_type)) - META_KEYS - {"vocab_size"})


def _read_file(path: str) -> tuple[str, dict]:
    """A config JSON file -> (its model_type, its keys that differ from the architecture's defaults,
    in transformers' current names; keys the architecture does not define are left out, and so
    are values the config derives from the others, which then follow the sizes)."""
    from transformers import AutoConfig

    where = f"model[hf].config={path!r}"
    try:
        with open(path) as f:
            values = json.load(f)
    except OSError as exc:
        raise ModelConfigError(f"{where}: cannot read it ({exc.strerror}); give a transformers config JSON file "
                               "or an architecture name such as llama, gpt2 or mamba") from None
    except ValueError as exc:
        raise ModelConfigError(f"{where}: not JSON ({exc})") from None
    if not isinstance(values, dict) or not isinstance(values.get("model_type"), str):
        raise ModelConfigError(f"{where}: not a transformers config (a JSON object with a model_type)")
    model_type = values["model_type"]
    cls, defaults = _architecture(model_type)
    with _transformers_errors(where):
        loaded = AutoConfig.for_model(model_type, **{k: v for k, v in values.items() if k not in META_KEYS}).to_dict()
        valid, stated = _valid_keys(model_type), set(values) | {cls.attribute_map.get(k, k) for k in values}
        kept = {k: v for k, v in loaded.items() if k in valid and (k not in defaults or defaults[k] != v)}
        for key in [k for k in kept if k not in stated]:  # renamed (rope_theta -> rope_parameters) or derived
            rest = {k: v for k, v in kept.items() if k != key}
            if AutoConfig.for_model(model_type, **rest, vocab_size=loaded["vocab_size"]).to_dict().get(key) == kept[key]:
                del kept[key]  # derived from the others (Mamba's intermediate_size): it follows the sizes
    return model_type, kept


def transformers_config(cfg: HFConfig):
    """The transformers config of `cfg` (module docstring: defaults, options, then the sizes)."""
    from transformers import AutoConfig

    cls, defaults = _architecture(cfg.config)

    def name(key: str) -> str:  # a standard key -> this config's own name for it (GPT-2: n_embd, ...)
        return cls.attribute_map.get(key, key)

    keys = {name(k): v for k, v in cfg.options.items()}
    base, stated = {**defaults, **keys}, set(keys)
    for size, key in SIZES.items():
        value = getattr(cfg, size)
        if value is None or (size == "n_head" and name(key) not in defaults):
            continue  # unset, or heads of an architecture without attention heads
        if name(key) not in defaults:
            raise ModelConfigError(f"{size}={value}: {cfg.config}'s config has no {key}; size it by its own keys: "
                                   "model.preset=native model.options={...}")
        keys[name(key)] = value
    # the MLP width and the KV heads follow d_model and n_head at the base's ratios, unless the
    # options (or the file) state them without what they relate to: then they are absolute
    ff, hidden = name("intermediate_size"), name("hidden_size")
    if cfg.d_model is not None and cfg.d_ff is None and ff in _arguments(cfg.config) and base.get(ff) \
            and base.get(hidden) and not (ff in stated and hidden not in stated):
        keys[ff] = math.ceil(base[ff] * cfg.d_model / base[hidden])
    heads, kv = name("num_attention_heads"), name("num_key_value_heads")
    if cfg.n_head is not None and kv in defaults and base.get(heads) and base.get(kv) \
            and not (kv in stated and heads not in stated):
        keys[kv] = max(1, cfg.n_head // max(1, base[heads] // base[kv]))
    for key in TOKEN_IDS:
        value = keys.get(key, defaults.get(key))
        ids = value if isinstance(value, list) else [value]
        kept = [i for i in ids if isinstance(i, int) and 0 <= i < cfg.vocab_size]
        if value is not None and len(kept) < len(ids):  # another tokenizer's ids
            keys[key] = (kept or None) if isinstance(value, list) else None
    with _transformers_errors(cfg.config):
        return AutoConfig.for_model(cfg.config, **keys, vocab_size=cfg.vocab_size)


class HFCausalLM(LanguageModel):
    def __init__(self, cfg: HFConfig):
        super().__init__()
        from transformers import AutoModelForCausalLM

        self.cfg = cfg
        config = transformers_config(cfg)
        implementation = {"attn_implementation": cfg.attn_implementation} if cfg.attn_implementation else {}
        with _transformers_errors(cfg.config):
            self.causal_lm = AutoModelForCausalLM.from_config(config, **implementation)
        counted: list[str] = []  # outermost attention modules: one per attention layer
        for module_name, module in self.causal_lm.named_modules():
            if type(module).__name__.endswith("Attention") and not any(module_name.startswith(c + ".") for c in counted):
                counted.append(module_name)
        self._attention_layers = len(counted)
        self._ssm = any(n.endswith("A_log") for n, _ in self.causal_lm.named_parameters())  # Mamba-style mixers
        parameters = inspect.signature(self.causal_lm.forward).parameters
        self._cache_key = next((k for k in CACHE_KEYS if k in parameters), None)
        self._ran = False
        self.last_step_backend: str | None = None  # read by harness.tasks.decode

    @property
    def lm_head(self) -> nn.Module:
        return self.causal_lm.get_output_embeddings()

    def forward(self, idx: Tensor, targets: Tensor | None = None, logits: str = "all", loss_chunk: int = 0):
        """idx (B, L) -> logits (B, L, V), loss (models.lm_base.head_and_loss): the base model (its
        final norm included) and the output embedding as the head. An architecture that rescales
        its logits after the head (Gemma 2's soft-capping, Cohere's logit_scale) returns them unscaled."""
        h = self.causal_lm.base_model(input_ids=idx, use_cache=False).last_hidden_state  # (B, L, d)
        self._ran = True
        return head_and_loss(self.lm_head, h, targets, logits, loss_chunk)

    def prefill(self, idx: Tensor):
        """Prompt idx (B, L) -> logits of its last position (B, V) and transformers' cache."""
        if self._cache_key is None:
            raise ValueError(f"{type(self.causal_lm).__name__} takes no cache: it cannot decode token by token")
        out = self.causal_lm(input_ids=idx, use_cache=True, logits_to_keep=1)
        self._ran = True
        return out.logits[:, -1], out[self._cache_key]

    def step(self, token: Tensor, state):
        """token (B,) -> logits (B, V) and the cache grown by this position."""
        out = self.causal_lm(input_ids=token[:, None], use_cache=True, **{self._cache_key: state})
        self._ran = True
        cache = re.sub(r"(?<!^)(?=[A-Z])", "_", type(state).__name__).lower()  # DynamicCache -> dynamic_cache
        self.last_step_backend = f"{self.kernel_backend()}+{cache}"
        return out.logits[:, -1], out[self._cache_key]

    def num_params(self, active: bool = False) -> int:
        """Parameters (tied weights once); active: of the routed experts (parameters under an
        `experts` module), only num_experts_per_tok of their count."""
        total = super().num_params()
        config = self.causal_lm.config
        per_token = getattr(config, "num_experts_per_tok", None)
        experts = next((n for n in (getattr(config, k, None) for k in EXPERT_COUNTS) if n), None)
        if not active or not per_token or not experts:
            return total
        routed = sum(p.numel() for n, p in self.causal_lm.named_parameters() if ".experts." in f".{n}")
        return total - routed + routed * per_token // experts

    def flops_per_token(self, seq_len: int) -> int:
        """An estimate (module docstring)."""
        head = self.lm_head.weight
        lookups = {id(p): p.numel() for m in self.modules() if isinstance(m, nn.Embedding) for p in m.parameters()
                   if p is not head}
        config = self.causal_lm.config
        attention = 0
        if self._attention_layers:
            heads = config.num_attention_heads
            width = heads * (getattr(config, "head_dim", None) or config.hidden_size // heads)
            attention = self._attention_layers * 2 * (2 * width * seq_len / 2)  # QK^T and AV, causal half, MACs
        return int(2 * (self.num_params(active=True) - sum(lookups.values())) + attention)

    def kernel_backend(self) -> str:
        """The attention implementation transformers dispatches to; for Mamba-style mixers, the
        kernel packages transformers calls, function by function, when they are installed
        (mamba-ssm's scans, causal-conv1d's convolutions), else its PyTorch reference."""
        if not self._ran:
            return "not run"
        ran = [f"attn_{self.causal_lm.config._attn_implementation}"] if self._attention_layers else []
        if self._ssm:
            installed = [k for k in SSM_KERNELS if importlib.util.find_spec(k)]
            ran.append("ssm_" + ("+".join(installed) if installed else "torch_reference"))
        return "+".join(ran) or f"hf_{self.cfg.config}"


# any transformers causal LM; its lengths are not extended, even for a Mamba
MODEL_FAMILIES = [ModelEntry("hf", HFConfig, HFCausalLM, PRESETS, linear_time=False)]
