"""Greedy autoregressive generation for every model: prefill, one-token steps, the bytes of the
KV cache or recurrent state, and the step captured in a CUDA graph.

Follows mamba-ssm's `mamba_ssm/utils/generation.py`: the prompt runs once through the parallel
forward and leaves a state; each new token is one `step`; with CUDA graphs the step is captured
once per batch size over static state buffers that replays update in place (upstream's
`update_graph_cache`). Transformers keep transformers' `DynamicCache`, the cache `generate`
uses by default; its shapes grow every token, so their step is never captured.

Models (models.lm_base) provide `prefill(idx) -> (logits (B, V), state)` and
`step(token (B,), state) -> (logits (B, V), state)`; a model whose step has static shapes also
provides `graph_capturable(state) -> bool` (the swarm's routing step at a chunk boundary is
not). A dict state carries its position as the int `t`.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_unflatten


def state_nbytes(state) -> int:
    """Bytes held by a generation state: a transformers Cache (keys and values of every layer)
    or any nest of tensors."""
    if hasattr(state, "layers"):  # transformers.Cache
        return sum(t.numel() * t.element_size() for layer in state.layers
                   for t in (layer.keys, layer.values) if isinstance(t, Tensor))
    leaves, _ = tree_flatten(state)
    return sum(t.numel() * t.element_size() for t in leaves if isinstance(t, Tensor))


def supports_cuda_graphs(model) -> bool:
    return hasattr(model, "graph_capturable")


class GreedyDecoder:
    """Feeds each step the argmax of the previous logits. With `cuda_graphs`, steps whose shapes
    are static replay one captured graph; the others (e.g. the swarm's routing steps) run eagerly
    and write their result into the same static buffers."""

    def __init__(self, model, cuda_graphs: bool = False):
        if cuda_graphs and not supports_cuda_graphs(model):
            raise ValueError(f"{type(model).__name__} has no static-shape step to capture in a CUDA graph")
        self.model, self.cuda_graphs = model, cuda_graphs
        self.state, self.logits = None, None
        self._graph = None
        self._graph_token: Tensor | None = None
        self._graph_logits: Tensor | None = None
        self.graph_steps = self.eager_steps = 0

    def prefill(self, prompt: Tensor) -> Tensor:
        """prompt (B, L) -> logits of its last position (B, V); the state is kept for `step`."""
        logits, state = self.model.prefill(prompt)
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
            else:
                merged.append(n)
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
