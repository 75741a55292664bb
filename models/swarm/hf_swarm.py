"""The swarm as a Hugging Face `transformers` model: a config, a causal LM around
models.swarm.model.SwarmLM (composed, not copied), `save_pretrained` / `from_pretrained` with
safetensors, and `generate` over the swarm's recurrent state. Importing this module registers
the model type "mamba_swarm" with AutoConfig and AutoModelForCausalLM:

    import models.swarm.hf_swarm                                  # registers "mamba_swarm"
    wrap(trained_swarm).save_pretrained("ckpt")                   # a SwarmLM, weights shared
    model = AutoModelForCausalLM.from_pretrained("ckpt")          # SwarmForCausalLM, eval mode
    model.generate(input_ids, do_sample=False, max_new_tokens=32)

Follows transformers' own Mamba (transformers/models/mamba/configuration_mamba.py and
modeling_mamba.py, as in 5.17 and 5.24) and transformers/modeling_utils.py:
- the config is a dataclass-style `PreTrainedConfig` (its subclasses become dataclasses), here
  with exactly SwarmConfig's fields, so config.json lists the swarm's settings flat;
- the LM head is tied to the embedding through `_tied_weights_keys` ({target: source}, the
  form both versions read), so safetensors stores the shared tensor once and loading re-ties it;
- `from_pretrained` builds the model on the meta device and leaves what the checkpoint does not
  hold to `_init_weights`: here only the non-persistent buffers (the encoders' domain tables),
  rebuilt from the config; every parameter comes from the checkpoint;
- generation: `_is_stateful`, like Mamba; the state leaves `forward` in its output, is put into
  the next step's kwargs by `_update_model_kwargs_for_generation`, and with it
  `prepare_inputs_for_generation` feeds only the new token. Mamba's state is a transformers
  `Cache` whose kwarg name changed between versions (`cache_params` in 5.17, `cache` in 5.24);
  the swarm's is SwarmLM's own dict (routing, encoder and decoder states: SwarmLM.init_state),
  so it travels as `swarm_state` and generate allocates no Cache (`_supports_default_dynamic_cache`).
  The prompt runs once through SwarmLM.prefill, each new token once through SwarmLM.step, so greedy
  `generate` gives models.generation.GreedyDecoder's tokens.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GenerationConfig,
    GenerationMixin,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.utils import ModelOutput

from models.grouped import ExpertLinear
from models.swarm.model import SwarmConfig, SwarmLM, domain_layout
from models.swarm.router import ChunkRouter

MODEL_TYPE = "mamba_swarm"


class _SwarmConfigMethods:
    def to_swarm(self) -> SwarmConfig:
        return SwarmConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(SwarmConfig)})

    @classmethod
    def from_swarm(cls, cfg: SwarmConfig) -> HFSwarmConfig:
        return cls(**dataclasses.asdict(cfg))


def _config_namespace() -> dict:
    """SwarmConfig's fields as annotated class attributes, which PreTrainedConfig turns into
    dataclass fields when the subclass is created."""
    namespace = {"__module__": __name__, "__annotations__": {"tie_word_embeddings": "bool"},
                 "__doc__": "SwarmConfig (models.swarm.model) as a transformers config; `to_swarm` gives it back.",
                 "model_type": MODEL_TYPE, "attribute_map": {"hidden_size": "d_model"},
                 "tie_word_embeddings": True}  # SwarmLM always ties its LM head to the embedding
    for f in dataclasses.fields(SwarmConfig):
        namespace["__annotations__"][f.name] = f.type
        namespace[f.name] = (f.default if f.default_factory is dataclasses.MISSING
                             else dataclasses.field(default_factory=f.default_factory))
    return namespace


HFSwarmConfig = type("HFSwarmConfig", (_SwarmConfigMethods, PretrainedConfig), _config_namespace())


class SwarmGenerationConfig(GenerationConfig):
    @classmethod
    def from_model_config(cls, model_config) -> SwarmGenerationConfig:
        """transformers' defaults, not the model config's values: its `top_k` is the router's k,
        which GenerationConfig would take for top-k sampling."""
        return cls()


@dataclass
class SwarmCausalLMOutput(ModelOutput):
    """loss: next-token cross entropy plus the swarm's weighted router losses (labels given);
    logits (B, L, V), or (B, 1, V) when generating; swarm_state: SwarmLM's state after the input."""
    loss: Tensor | None = None
    logits: Tensor | None = None
    swarm_state: dict | None = None


class SwarmForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = HFSwarmConfig
    generation_config_class = SwarmGenerationConfig
    base_model_prefix = "swarm"
    _tied_weights_keys = {"swarm.lm_head.weight": "swarm.embedding.weight"}
    _is_stateful = True  # its state cannot be rolled back: no assisted generation

    def __init__(self, config: HFSwarmConfig, swarm: SwarmLM | None = None):
        super().__init__(config)
        self.swarm = swarm if swarm is not None else SwarmLM(config.to_swarm())
        self.post_init()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the state is the swarm's own, not a transformers Cache

    def _init_weights(self, module: torch.nn.Module) -> None:
        """SwarmLM initialises its parameters itself; this only rebuilds the non-persistent
        buffers (encoder -> domain for the router, encoder -> family for shared weights), which
        from_pretrained leaves uninitialised."""
        cfg = self.config.to_swarm()
        domains = domain_layout(cfg)
        if isinstance(module, ChunkRouter) and cfg.domains:
            module.domain.copy_(torch.tensor(domains))
        elif isinstance(module, ExpertLinear) and module.rank:  # as SwarmLM: generalists share one family
            module.family.copy_(torch.tensor([d if d >= 0 else len(cfg.domains) for d in domains]))

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.swarm.embedding

    def get_output_embeddings(self) -> torch.nn.Linear:
        return self.swarm.lm_head

    def forward(self, input_ids: Tensor, labels: Tensor | None = None, attention_mask: Tensor | None = None,
                swarm_state: dict | None = None, use_cache: bool | None = None, domain_labels: Tensor | None = None,
                **kwargs) -> SwarmCausalLMOutput:
        """input_ids (B, L) -> logits (B, L, V) through SwarmLM.forward; labels (B, L) as
        transformers takes them (the inputs themselves, -100 not scored; shifted here, so logits
        at t are scored against labels at t+1): the swarm's training loss. domain_labels (B, L):
        SwarmLM's per-token domain ids, for its domain loss.

        With use_cache (what generate passes): the prompt runs through SwarmLM.prefill, or, given
        swarm_state, every token of input_ids through SwarmLM.step; logits (B, 1, V) of the last
        position and the new swarm_state. The swarm has no padding mask: attention_mask, if given
        with the prompt, must be all ones. Other kwargs generate passes (return_dict, ...) are ignored."""
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError("the swarm has no padding mask: give unpadded input_ids (attention_mask all ones)")
        if use_cache or swarm_state is not None:
            if labels is not None:
                raise ValueError("labels need the full forward (use_cache=False, no swarm_state)")
            if swarm_state is None:
                logits, swarm_state = self.swarm.prefill(input_ids)  # (B, V)
            else:
                for t in range(input_ids.shape[1]):
                    logits, swarm_state = self.swarm.step(input_ids[:, t], swarm_state)  # (B, V)
            return SwarmCausalLMOutput(logits=logits[:, None], swarm_state=swarm_state)
        targets = None if labels is None else F.pad(labels[:, 1:], (0, 1), value=-100)  # (B, L), aligned
        logits, loss = self.swarm(input_ids, targets, domain_labels=domain_labels)
        return SwarmCausalLMOutput(loss=loss, logits=logits)

    def prepare_inputs_for_generation(self, input_ids: Tensor, swarm_state: dict | None = None,
                                      use_cache: bool = True, attention_mask: Tensor | None = None,
                                      **kwargs) -> dict:
        """input_ids (B, L): everything so far. With use_cache: the whole prompt first, then only
        the token just generated (B, 1) with the state; without: the whole prefix every step."""
        if not use_cache:
            return {"input_ids": input_ids, "attention_mask": attention_mask}
        if swarm_state is None:
            return {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": True}
        return {"input_ids": input_ids[:, -1:], "swarm_state": swarm_state, "use_cache": True}

    def _update_model_kwargs_for_generation(self, outputs: ModelOutput, model_kwargs: dict, *args, **kwargs) -> dict:
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        model_kwargs["swarm_state"] = outputs.get("swarm_state")
        return model_kwargs

    def generate(self, *args, **kwargs):
        """GenerationMixin.generate, but not beam search: it would reorder the sequences and not the state."""
        config = kwargs.get("generation_config") or self.generation_config
        if (kwargs.get("num_beams") or config.num_beams or 1) > 1:
            raise ValueError("beam search is not supported: the swarm's state is not reordered with the beams")
        return super().generate(*args, **kwargs)


def wrap(swarm: SwarmLM) -> SwarmForCausalLM:
    """A trained SwarmLM as a SwarmForCausalLM, sharing its weights (nothing is copied)."""
    if type(swarm) is not SwarmLM:  # e.g. FullAttentionSwarmLM: from_pretrained would build a SwarmLM
        raise ValueError(f"only SwarmLM is a {MODEL_TYPE} model, not {type(swarm).__name__}")
    return SwarmForCausalLM(HFSwarmConfig.from_swarm(swarm.cfg), swarm=swarm)


def register() -> None:
    """Make AutoConfig and AutoModelForCausalLM know "mamba_swarm" (idempotent)."""
    AutoConfig.register(MODEL_TYPE, HFSwarmConfig, exist_ok=True)
    AutoModelForCausalLM.register(HFSwarmConfig, SwarmForCausalLM, exist_ok=True)


register()
