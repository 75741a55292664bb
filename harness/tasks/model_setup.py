"""What the tasks share to set a point up: its model (models.registry, seeded, initialised on
its device), its random input tokens, the model facts a record carries, the dtype names, and
where a training point keeps the state it resumes from.

As optimum-benchmark's backends load a model once per benchmark process: built directly on
the device (no host initialisation, no copy), the same seed giving the same weights in every
task and on every rank.
"""
from __future__ import annotations

from pathlib import Path

import torch

from models import registry

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def build_model(point: dict, train: bool):
    """The point's model, seeded and initialised on its device: weights in the point's dtype for
    inference, float32 for training (autocast does the rest)."""
    device = torch.device(point["device"])
    torch.manual_seed(point["seed"])
    with torch.device(device):  # initialise on the device: no host init, no copy
        model = registry.build(point["model"], point["model_config"])
    model = model.to(dtype=torch.float32 if train else DTYPES[point["dtype"]])
    return model.train(train)


def resume_path(point: dict) -> str | None:
    """Beside the point's record (the runner says where it goes): `<point_id>.resume.pt`."""
    return str(Path(point["record_path"]).with_suffix(".resume.pt")) if point.get("record_path") else None


def random_tokens(point: dict, length: int) -> torch.Tensor:
    """(batch_size, length) token ids from the point's seed, on its device."""
    generator = torch.Generator().manual_seed(point["seed"])
    vocab = point["model_config"]["vocab_size"]
    return torch.randint(0, vocab, (point["batch_size"], length), generator=generator).to(point["device"])


def model_info(model, seq_len: int) -> dict:
    """A record's `model_info`: sizes, analytic FLOPs per token, the kernel backend that ran,
    and for routed models `extra` (routing statistics of the last forward)."""
    return {"params_total": model.num_params(active=False), "params_active": model.num_params(active=True),
            "flops_per_token": model.flops_per_token(seq_len), "backend": model.kernel_backend(),
            "extra": model.extra_info() if hasattr(model, "extra_info") else {}}
