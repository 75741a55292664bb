"""The Mamba Encoder Swarm language model, as the Mamba Encoder Swarm design document lays it out.

    tokens -> shared embedding (no positional encoding)
           -> router: k of N encoders per chunk of `chunk_len` tokens (models.swarm.router)
           -> the chosen encoders, run sparsely (models.swarm.mamba_pool, mamba2_pool, transformer_pool)
           -> aggregator: fuse the k outputs per token (models.swarm.aggregator)
           -> Mamba decoder over the whole fused sequence (carries context across chunks)
           -> RMSNorm -> LM head tied to the embedding

Encoders see only their own chunk; the router sees only chunks before the current one; the
aggregator and decoder are causal: the model is causal. The loss adds the router's
balance and z-losses, and the domain loss when per-token domain labels are given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from models import routing
from models.family import ModelEntry
from models.lm_base import LanguageModel, head_and_loss, mlp_width
from models.mamba_lm import MambaConfig, MambaResidual, prefill_layers
from models.swarm import stateful
from models.swarm.aggregator import Aggregator
from models.swarm.mamba2_pool import Mamba2EncoderPool
from models.swarm.mamba_pool import MambaEncoderPool
from models.swarm.router import ChunkRouter
from models.swarm.transformer_pool import TransformerEncoderPool

ENCODER_TYPES = ("mamba", "mamba2", "transformer")
RECURRENT_ENCODERS = ("mamba", "mamba2")  # a fixed-size state per encoder


@dataclass
class SwarmConfig:
    vocab_size: int = 16384
    d_model: int = 256
    n_encoders: int = 10
    top_k: int = 2
    chunk_len: int = 64
    encoder_layers: int = 2
    encoder_type: str = "mamba"  # mamba | mamba2 (n_head Mamba-2 heads) | transformer
    decoder_layers: int = 2
    fusion: str = "gate"  # gate | attention
    # router
    noisy_gating: bool = True
    capacity_factor: float = 1.25  # slots per encoder and chunk position: ceil(f * B * k / N); 0 = unlimited
    min_capacity: int = 2
    balance_weight: float = 0.01
    z_weight: float = 0.001
    domain_weight: float = 0.1
    # domain specialists: encoders 0.. in blocks per domain, then `generalists`
    domains: list[str] = field(default_factory=list)
    domain_encoders: list[int] = field(default_factory=list)  # per domain; empty: an even split
    generalists: int = 0
    share_rank: int = 0  # > 0: hierarchical weight sharing (shared base + low-rank domain/encoder deltas)
    # Mamba sizes (encoders and decoder) and Transformer-encoder sizes
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    n_head: int = 4
    d_ff: int = 0  # Transformer encoders; 0: 8/3 d_model rounded up to 64
    backend: str = "auto"  # Mamba kernels: auto | cuda_fused | cuda_scan | reference
    pool_backend: str = "auto"  # auto (grouped on CUDA, loop elsewhere) | grouped | loop
    norm_eps: float = 1e-5
    routing_threshold: float = 0.0  # > 0: dynamic k, the fewest encoders (<= top_k) whose router mass reaches it
    stateful_encoders: bool = False  # each encoder resumes its state per row (models.swarm.stateful)
    # fields added after records existed: left out of a resolved config at their default (point ids stay)
    ADDED_LATER: ClassVar[tuple[str, ...]] = ("routing_threshold", "stateful_encoders")


PRESETS = {
    "tiny": dict(d_model=64, n_encoders=5, top_k=2, chunk_len=8, encoder_layers=1, decoder_layers=1),
    "small": dict(d_model=256, n_encoders=10, top_k=2, chunk_len=64, encoder_layers=2, decoder_layers=2),
    "base": dict(d_model=768, n_encoders=5, top_k=2, chunk_len=256, encoder_layers=4, decoder_layers=8, n_head=12),
}


def domain_layout(cfg: SwarmConfig) -> list[int]:
    """Domain id of every encoder (-1 for generalists), from the domain config."""
    if not cfg.domains:
        if cfg.domain_encoders or cfg.generalists:
            raise ValueError("domain_encoders / generalists need `domains` (a list of domain names)")
        return [-1] * cfg.n_encoders
    specialists = cfg.n_encoders - cfg.generalists
    counts = list(cfg.domain_encoders)
    if not counts:
        if specialists < len(cfg.domains):
            raise ValueError(f"{specialists} specialist encoders cannot cover {len(cfg.domains)} domains")
        counts = [specialists // len(cfg.domains) + (i < specialists % len(cfg.domains)) for i in range(len(cfg.domains))]
    if len(counts) != len(cfg.domains) or sum(counts) != specialists or min(counts) < 1:
        raise ValueError(f"domain_encoders={counts} must give each of the {len(cfg.domains)} domains >= 1 encoder "
                         f"and sum to n_encoders - generalists = {specialists}")
    return [d for d, c in enumerate(counts) for _ in range(c)] + [-1] * cfg.generalists


def _validate(cfg: SwarmConfig) -> None:
    if cfg.encoder_type not in ENCODER_TYPES:
        raise ValueError(f"encoder_type={cfg.encoder_type!r}; valid: {', '.join(ENCODER_TYPES)}")
    if not 1 <= cfg.top_k <= cfg.n_encoders:
        raise ValueError(f"top_k={cfg.top_k} must be between 1 and n_encoders={cfg.n_encoders}")
    if cfg.stateful_encoders and cfg.encoder_type not in RECURRENT_ENCODERS:
        raise ValueError(f"stateful_encoders needs recurrent encoders ({', '.join(RECURRENT_ENCODERS)}), "
                         f"not encoder_type={cfg.encoder_type!r}")
    if not 0 <= cfg.routing_threshold <= 1:
        raise ValueError(f"routing_threshold={cfg.routing_threshold} must be in [0, 1] (0: fixed top_k)")
    if cfg.chunk_len < 1 or cfg.encoder_layers < 1:
        raise ValueError("chunk_len and encoder_layers must be >= 1")
    if cfg.share_rank and cfg.encoder_type == "mamba2":
        raise ValueError("share_rank needs encoder_type mamba or transformer: Mamba-2 encoders have no shared base")
    if cfg.share_rank % 8:
        raise ValueError(f"share_rank={cfg.share_rank} must be a multiple of 8 (grouped GEMM alignment)")


class SwarmLM(LanguageModel):
    def __init__(self, cfg: SwarmConfig):
        super().__init__()
        _validate(cfg)
        self.cfg = cfg
        domains = domain_layout(cfg)
        family = [d if d >= 0 else len(cfg.domains) for d in domains]  # generalists share a family
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.router = ChunkRouter(cfg.d_model, cfg.n_encoders, cfg.top_k, cfg.noisy_gating, cfg.capacity_factor,
                                  cfg.min_capacity, domains if cfg.domains else [], cfg.norm_eps, cfg.routing_threshold)
        if cfg.encoder_type == "mamba":
            self.encoders = MambaEncoderPool(cfg.n_encoders, cfg.encoder_layers, cfg.d_model, cfg.d_state, cfg.d_conv,
                                             cfg.expand, cfg.share_rank, family, cfg.backend, cfg.pool_backend,
                                             cfg.norm_eps)
        elif cfg.encoder_type == "mamba2":
            self.encoders = Mamba2EncoderPool(cfg.n_encoders, cfg.encoder_layers, cfg.d_model, cfg.n_head, cfg.d_state,
                                              cfg.d_conv, cfg.expand, cfg.backend, cfg.pool_backend, cfg.norm_eps)
        else:
            self.encoders = TransformerEncoderPool(cfg.n_encoders, cfg.encoder_layers, cfg.d_model, cfg.n_head,
                                                   mlp_width(cfg.d_model, cfg.d_ff), cfg.share_rank, family,
                                                   cfg.pool_backend, cfg.norm_eps)
        self.aggregator = Aggregator(cfg.d_model, cfg.fusion)
        dec = MambaConfig(vocab_size=cfg.vocab_size, d_model=cfg.d_model, n_layer=cfg.decoder_layers,
                          d_state=cfg.d_state, d_conv=cfg.d_conv, expand=cfg.expand, backend=cfg.backend,
                          norm_eps=cfg.norm_eps)
        self.decoder = nn.ModuleList(MambaResidual(dec) for _ in range(cfg.decoder_layers))
        self.norm_f = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.embedding.weight
        nn.init.normal_(self.embedding.weight, std=0.02)
        for layer in self.decoder:
            with torch.no_grad():
                layer.mixer.out_proj.weight /= math.sqrt(cfg.decoder_layers)
        self.last_routing: routing.Routing | None = None
        self.last_aux: dict[str, Tensor] = {}
        self.last_encoder_table: list = []  # stateful encoders: every (row, encoder) state after the last prefill

    # ---- forward -------------------------------------------------------------------------
    def forward(self, idx: Tensor, targets: Tensor | None = None, domain_labels: Tensor | None = None,
                logits: str = "all", loss_chunk: int = 0):
        """idx (B, L) -> logits (B, L, V), loss (LM + weighted router losses when targets given;
        `logits` and `loss_chunk` as models.lm_base.head_and_loss).
        domain_labels (B, L): per-token domain ids (-1 unlabelled); a chunk takes its first token's."""
        h = self._encode(idx)
        for layer in self.decoder:
            h = layer(h)
        logits, loss = head_and_loss(self._head, h, targets, logits, loss_chunk)
        r, lc = self.last_routing, self.cfg.chunk_len
        self.last_aux = self.router.losses(r)
        if domain_labels is not None and self.router.n_domains:
            chunk_labels = domain_labels[:, ::lc].transpose(0, 1).flatten()  # (M,)
            self.last_aux["domain"] = self.router.domain_loss(r, chunk_labels)
            self.last_aux["domain_accuracy"] = torch.tensor(self.router.domain_accuracy(r, chunk_labels) or 0.0)
        if loss is not None:
            self.last_aux["lm"] = loss.detach()
            loss = loss + self.cfg.balance_weight * self.last_aux["balance"] + self.cfg.z_weight * self.last_aux["z"]
            if "domain" in self.last_aux:
                loss = loss + self.cfg.domain_weight * self.last_aux["domain"]
        return logits, loss

    def _head(self, h: Tensor) -> Tensor:
        return self.lm_head(self.norm_f(h))  # (..., d) -> (..., V)

    def _encode(self, idx: Tensor, encoder_table: bool = False) -> Tensor:
        """Embed, route, run the chosen encoders and fuse: idx (B, L) -> (B, L, d), before the decoder.
        Stateful encoders with `encoder_table` run chunk position by chunk position and keep every
        (row, encoder) state in `last_encoder_table` (prefill); else as concatenated sequences."""
        batch, seq_len = idx.shape
        lc, k = self.cfg.chunk_len, self.cfg.top_k
        n_chunks = -(-seq_len // lc)
        x = self.embedding(idx)  # (B, L, d)
        chunks = F.pad(x, (0, 0, 0, n_chunks * lc - seq_len)).view(batch, n_chunks, lc, -1)  # (B, C, Lc, d)
        r = self.router(chunks)  # M = C*B chunks, chunk-major
        inputs = chunks.transpose(0, 1).flatten(0, 1)  # (M, Lc, d)

        if self.cfg.stateful_encoders and encoder_table:
            table = self.encoders.init_state(batch, self.cfg.n_encoders, x.device, x.dtype)
            slots, self.last_encoder_table = stateful.stateful_slots(self.encoders, inputs, r, batch, table)
        elif self.cfg.stateful_encoders:
            slots = stateful.concatenated_slots(self.encoders, inputs, r, batch)
        else:
            item, slot = torch.nonzero(r.keep, as_tuple=True)  # kept assignments (A,)
            experts = r.experts[item, slot]
            order = experts.argsort(stable=True)
            item, slot, experts = item[order], slot[order], experts[order]
            encoded = self._run_encoders(inputs, item, experts, batch)  # (A, Lc, d)
            slots = inputs[:, None].expand(-1, k, -1, -1).clone()  # (M, k, Lc, d): dropped slots keep the identity
            slots[item, slot] = encoded.to(slots.dtype)
        fused = self.aggregator(slots, r.gates, inputs)  # (M, Lc, d)
        self.last_routing = r
        return fused.view(n_chunks, batch, lc, -1).transpose(0, 1).reshape(batch, n_chunks * lc, -1)[:, :seq_len]

    def _run_encoders(self, inputs: Tensor, item: Tensor, experts: Tensor, batch: int) -> Tensor:
        """The kept assignments (chunk `item` to encoder `experts`, (A,) each, sorted by encoder) of the
        chunk-major inputs (M = C*B, Lc, d) -> (A, Lc, d): each encoder sees only its chunk.
        models.swarm.full_attention_pool overrides this to attend over the whole prefix."""
        return self.encoders(inputs[item], experts)

    # ---- generation ------------------------------------------------------------------------
    def init_state(self, batch_size: int) -> dict:
        device, dtype = self.embedding.weight.device, self.embedding.weight.dtype
        k = self.cfg.top_k
        return {
            "t": 0,
            "chunk_sum": torch.zeros(batch_size, self.cfg.d_model, device=device, dtype=torch.float32),
            "previous_mean": torch.zeros(batch_size, self.cfg.d_model, device=device, dtype=dtype),
            "experts": torch.zeros(batch_size, k, dtype=torch.long, device=device),
            "gates": torch.zeros(batch_size, k, device=device),
            "keep": torch.ones(batch_size, k, dtype=torch.bool, device=device),
            "encoders": self.encoders.init_state(batch_size, k, device, dtype),
            "decoder": [layer.mixer.init_state(batch_size, device, dtype) for layer in self.decoder],
            **({"encoder_table": self.encoders.init_state(batch_size, self.cfg.n_encoders, device, dtype)}
               if self.cfg.stateful_encoders else {}),
        }

    def prefill(self, idx: Tensor):
        """Prompt idx (B, L) -> logits of its last position (B, V) and the state `step` continues from.

        The whole chunks run as in `forward` (the decoder keeps its final states); a partial last
        chunk, if any, is fed token by token through `step`, since its encoders' states are needed."""
        batch, seq_len = idx.shape
        whole = seq_len // self.cfg.chunk_len * self.cfg.chunk_len
        state = self.init_state(batch)
        logits = None
        if whole:
            h = self._encode(idx[:, :whole], encoder_table=True)  # (B, whole, d)
            h, state["decoder"] = prefill_layers(self.decoder, h)
            logits = self.lm_head(self.norm_f(h[:, -1]))
            last_chunk = self.embedding(idx[:, whole - self.cfg.chunk_len:whole])  # (B, Lc, d)
            state.update(t=whole, chunk_sum=last_chunk.float().sum(1))
            if self.cfg.stateful_encoders:  # the whole chunks' encoder states; no chunk in progress to write back
                state.update(encoder_table=self.last_encoder_table, keep=torch.zeros_like(state["keep"]))
        for t in range(whole, seq_len):
            logits, state = self.step(idx[:, t], state)
        return logits, state

    def step(self, token: Tensor, state: dict):
        """token (B,) -> logits (B, V), new state. Routing is decided at chunk boundaries."""
        batch, lc = token.shape[0], self.cfg.chunk_len
        state = dict(state)
        if state["t"] % lc == 0:
            if state["t"] > 0:
                state["previous_mean"] = (state["chunk_sum"] / lc).to(self.embedding.weight.dtype)
                state["chunk_sum"] = torch.zeros_like(state["chunk_sum"])
            logits = self.router.logits(state["previous_mean"] if state["t"] > 0 else None, batch)
            r = self.router.route(logits, torch.zeros(batch, dtype=torch.long, device=token.device), batch)
            if self.cfg.stateful_encoders:  # the finished chunk's states back, the new chunk's encoders resume
                table = stateful.write_back(state["encoder_table"], state["experts"], state["keep"], state["encoders"])
                state.update(encoder_table=table, encoders=stateful.gather(table, r.experts))
            else:
                state["encoders"] = self.encoders.init_state(batch, self.cfg.top_k, token.device,
                                                             self.embedding.weight.dtype)
            state.update(experts=r.experts, gates=r.gates, keep=r.keep)
        x = self.embedding(token)  # (B, d)
        state["chunk_sum"] = state["chunk_sum"] + x.float()
        encoded, state["encoders"] = self.encoders.step(x, state["experts"], state["encoders"])  # (B, k, d)
        slots = torch.where(state["keep"][:, :, None], encoded.to(x.dtype), x[:, None, :])
        h = self.aggregator(slots[:, :, None], state["gates"], x[:, None])[:, 0]  # (B, d)
        decoder_state = []
        for layer, layer_state in zip(self.decoder, state["decoder"]):
            h, layer_state = layer.step(h, layer_state)
            decoder_state.append(layer_state)
        state["decoder"] = decoder_state
        state["t"] += 1
        return self.lm_head(self.norm_f(h)), state

    @property
    def static_step(self) -> bool:
        """Whether a step can be captured at all: Mamba encoders carry a fixed-size state; Transformer
        encoders recompute their chunk so far, which grows every step."""
        return self.cfg.encoder_type in RECURRENT_ENCODERS

    def graph_capturable(self, state: dict) -> bool:
        """Steps inside a chunk have static shapes; the routing step at a chunk boundary does not."""
        return state["t"] % self.cfg.chunk_len != 0

    def state_bytes(self, batch_size: int) -> int:
        """Generation state at its largest (end of a chunk), independent of the context length."""
        state = self.init_state(batch_size)
        tensors = [state["chunk_sum"], state["previous_mean"], state["experts"], state["gates"], state["keep"]]
        tensors += [t for s in state["decoder"] for t in s]
        if self.cfg.encoder_type in RECURRENT_ENCODERS:
            tensors += [t for s in state["encoders"] + state.get("encoder_table", []) for t in s]
            extra = 0
        else:  # the chunk's inputs, up to chunk_len tokens
            extra = batch_size * self.cfg.chunk_len * self.cfg.d_model * self.embedding.weight.element_size()
        return sum(t.numel() * t.element_size() for t in tensors) + extra

    # ---- accounting ------------------------------------------------------------------------
    def num_params(self, active: bool = False) -> int:
        """Total parameters, or those one chunk uses: everything but the N - k idle encoders."""
        total = sum(p.numel() for p in self.parameters())
        if not active:
            return total
        return total - (self.cfg.n_encoders - self.cfg.top_k) * self.encoders.per_encoder_params()

    def flops_per_token(self, seq_len: int) -> int:
        c = self.cfg
        router = 2 * c.d_model * c.n_encoders * (2 if c.noisy_gating else 1) // c.chunk_len + c.n_encoders
        decoder = c.decoder_layers * self.decoder[0].mixer.flops_per_token()
        return (router + c.top_k * self.encoders.flops_per_token(c.chunk_len)
                + self.aggregator.flops_per_token(c.top_k, c.d_model) + decoder + 2 * c.d_model * c.vocab_size)

    def kernel_backend(self) -> str:
        pool = self.encoders.last_dispatch.get("pool")
        decoder = self.decoder[0].mixer.last_backend
        return f"encoders={pool},decoder={decoder}" if pool else "not run"

    def extra_info(self) -> dict:
        """Routing statistics of the last forward, and the dispatch that ran."""
        if self.last_routing is None:
            return {}
        stats = routing.routing_stats(self.last_routing, self.cfg.n_encoders)
        stats.pop("load")
        aux = {k: float(v) for k, v in self.last_aux.items()}
        return {"routing": stats, "aux_losses": aux, "dispatch": dict(self.encoders.last_dispatch)}


MODEL_FAMILIES = [
    ModelEntry("swarm", SwarmConfig, SwarmLM, PRESETS, linear_time=True, fixed={"encoder_type": "mamba"}),
    ModelEntry("mamba2_swarm", SwarmConfig, SwarmLM, PRESETS, linear_time=True,
               fixed={"encoder_type": "mamba2", "pool_backend": "loop"}),  # Mamba-2 encoders, run one by one
    ModelEntry("transformer_swarm", SwarmConfig, SwarmLM, PRESETS, linear_time=True,
               fixed={"encoder_type": "transformer"}),  # attention inside chunks only: O(L * chunk_len)
]
