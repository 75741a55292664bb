"""What a point's child process runs: the TASKS table from a point's `task` name to its function.

A task takes the point's config dict and returns a JSON-serialisable payload. The names are
part of each point's identity (the point id hashes the config, `task` included), so they keep
the "module:function" spelling they were stored with before the harness was split into
sub-packages; the table maps each to where the function lives now. Targets are strings and
imported on use, so reading the table imports no torch.
"""
from __future__ import annotations

import importlib
from typing import Callable

TASKS = {
    "harness.measure:measure_model": "harness.tasks.forward_train:measure_model",
    "harness.decode:measure_decode": "harness.tasks.decode:measure_decode",
    "harness.distributed_swarm:measure": "harness.tasks.distributed:measure",
    "harness.quality:train_and_evaluate": "harness.tasks.corpus_quality:train_and_evaluate",
    "harness.synthetic_quality:train_and_probe": "harness.tasks.synthetic:train_and_probe",
    "harness.fixed_seed_loss:train_loss": "harness.tasks.fixed_seed_loss:train_loss",
}


def resolve(name: str) -> Callable[[dict], dict]:
    """The function behind task `name`: a TASKS name, or any importable "module:function"
    (tests and user extensions run their own tasks this way)."""
    module_name, _, func_name = TASKS.get(name, name).partition(":")
    return getattr(importlib.import_module(module_name), func_name)
