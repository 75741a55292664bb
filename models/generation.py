"""Greedy autoregressive generation for every model: prefill, one-token steps, the bytes of the
KV cache or recurrent state, and the step captured in a CUDA graph.

Follows mamba-ssm's `mamba_ssm/utils/generation.py`: the prompt runs once through the parallel
forward and leaves a state; each new token is one `step`; with CUDA graphs the step is captured
once per batch size over static state buffers that replays update in place (upstream's
`update_graph_cache`). Transformers decode eagerly with transformers' `DynamicCache`, the cache
`generate` uses by default, whose shapes grow every token; with CUDA graphs they prefill into a
`StaticCache` preallocated to `max_len` (prompt plus generated tokens), whose one-token step
has static shapes and is captured like the others.

Models (models.lm_base) provide `prefill(idx) -> (logits (B, V), state)` and
`step(token (B,), state) -> (logits (B, V), state)`; a model whose step can have static shapes
also provides `graph_capturable(state) -> bool` (the swarm's routing step at a chunk boundary is
not; nor is a Transformer's DynamicCache step), and one whose graphed state is preallocated for
a length takes `prefill(idx, max_len)`. A dict state carries its position as the int `t` (the
swarm) or as the (1,) tensor `pos` (a Transformer's static cache, advanced inside the graph).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_unflatten


def state_nbytes(state) -> int:
    """Bytes held by a generation state: any nest of tensors and transformers Caches (every tensor
    each cache layer holds: keys and values, a StaticCache's whole preallocated buffers from the
    prefill on, a DynamicCache's so far; a Mamba-style layer's conv and recurrent states)."""
    leaves, _ = tree_flatten(state)
    caches = [leaf for leaf in leaves if hasattr(leaf, "layers")]  # transformers.Cache
    tensors = [t for leaf in caches for layer in leaf.layers for t in tree_flatten(vars(layer))[0]
               if isinstance(t, Tensor) and t.is_floating_point()]  # not a layer's position counters
    return sum(t.numel() * t.element_size() for t in tensors + leaves if isinstance(t, Tensor))


def supports_cuda_graphs(model) -> bool:
    """A model with a static-shape step (`graph_capturable`), unless it says its step never is."""
    return hasattr(model, "graph_capturable") and getattr(model, "static_step", True)


class GreedyDecoder:
    """Feeds each step the argmax of the previous logits. With `cuda_graphs`, steps whose shapes
    are static replay one captured graph; the others (e.g. the swarm's routing steps) run eagerly
    and write their result into the same static buffers. `max_len` (prompt plus generated
    tokens), when given, goes to every `model.prefill(prompt, max_len=max_len)`: a Transformer
    needs it for its static KV cache, without which its steps are not capturable."""

    def __init__(self, model, cuda_graphs: bool = False, max_len: int | None = None):
        if cuda_graphs and not supports_cuda_graphs(model):
            raise ValueError(f"{type(model).__name__} has no static-shape step to capture in a CUDA graph")
        self.model, self.cuda_graphs, self.max_len = model, cuda_graphs, max_len
        self.state, self.logits = None, None
        self._graph = None
        self._graph_token: Tensor | None = None
        self._graph_logits: Tensor | None = None
        self.graph_steps = self.eager_steps = 0

    def prefill(self, prompt: Tensor) -> Tensor:
        """prompt (B, L) -> logits of its last position (B, V); the state is kept for `step`."""
        logits, state = self.model.prefill(prompt, **({} if self.max_len is None else {"max_len": self.max_len}))
        if self.cuda_graphs and self.state is not None:
            self._write(state)  # keep the buffers the graph was captured on
        else:
            self.state = state
        self.logits = logits
        return logits

    def step(self) -> Tensor:
        """One greedy token: (B, V) logits of the next position."""
        token = self.logits.argmax(-1)  # (B,)
        if self.cuda_graphs and self.model.graph_capturable(self.state):
            if self._graph is None:
                self._capture(token)
            self._graph_token.copy_(token)
            self._graph.replay()
            if isinstance(self.state, dict) and "t" in self.state:
                self.state["t"] += 1
            self.logits = self._graph_logits
            self.graph_steps += 1
        else:
            self.logits, state = self.model.step(token, self.state)
            if self.cuda_graphs:
                self._write(state)
            else:
                self.state = state
            self.eager_steps += 1
        return self.logits

    def _write(self, new_state) -> None:
        """Copy `new_state` into the static buffers of `self.state` (same structure and shapes)."""
        old, spec = tree_flatten(self.state)
        new, new_spec = tree_flatten(new_state)
        if new_spec != spec:
            raise RuntimeError("the state changed structure between steps; it cannot be graphed")
        merged = []
        for o, n in zip(old, new):
            if isinstance(o, Tensor):
                if n is not o:
                    o.copy_(n)
                merged.append(o)
            elif n is o or isinstance(n, (int, float, type(None))):
                merged.append(n)
            else:  # e.g. a transformers Cache: the graph reads and writes the first one's buffers
                raise RuntimeError(f"the state's {type(o).__name__} was replaced by another; it cannot be graphed")
        self.state = tree_unflatten(merged, spec)

    def _capture(self, token: Tensor) -> None:
        """Capture one step over the static state; warm-up runs on a side stream (as PyTorch's
        CUDA-graph recipe asks) and the state is restored afterwards."""
        leaves, _ = tree_flatten(self.state)
        saved = [t.clone() if isinstance(t, Tensor) else t for t in leaves]
        self._graph_token = token.clone()

        def body() -> Tensor:
            logits, new_state = self.model.step(self._graph_token, self.state)
            for o, n in zip(tree_flatten(self.state)[0], tree_flatten(new_state)[0]):
                if isinstance(o, Tensor) and n is not o:
                    o.copy_(n)
            return logits

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                body()
        torch.cuda.current_stream().wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph):
            self._graph_logits = body()
        for o, s in zip(leaves, saved):
            if isinstance(o, Tensor):
                o.copy_(s)
