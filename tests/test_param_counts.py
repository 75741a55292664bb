"""Parameter counts remembered across processes (models.param_counts) equal fresh counts, and
forget themselves when the code changes or the file is damaged."""
from __future__ import annotations

import json

import pytest
import torch

from models import matching, param_counts, registry

MODELS = ["mamba", "transformer", "swarm", "mamba_moe", "transformer_swarm"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _fresh(name: str, config: dict, active: bool) -> int:
    with torch.device("meta"):
        return registry.build(name, config).num_params(active=active)


def _never() -> int:
    raise AssertionError("the count should have come from the file")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("active", [False, True])
def test_remembered_count_is_the_fresh_count(name, active):
    config = registry.resolve_config(name, "tiny")
    first = matching.count_params(name, config, active=active)
    assert first == _fresh(name, config, active)
    assert param_counts.remembered(name, config, active, _never) == first
    assert param_counts.cache_file().exists()


def test_a_different_config_is_counted_anew():
    config = registry.resolve_config("mamba", "tiny")
    one = matching.count_params("mamba", {**config, "n_layer": 1})
    two = matching.count_params("mamba", {**config, "n_layer": 2})
    assert one < two == _fresh("mamba", {**config, "n_layer": 2}, False)


def test_changed_code_forgets_counts(monkeypatch):
    config = registry.resolve_config("mamba", "tiny")
    matching.count_params("mamba", config)
    monkeypatch.setattr(param_counts, "code_fingerprint", lambda: "edited")
    assert param_counts.remembered("mamba", config, False, lambda: 7) == 7
    stored = json.loads(param_counts.cache_file().read_text())
    assert stored["fingerprint"] == "edited" and list(stored["counts"].values()) == [7]  # the old version's are gone


def test_fingerprint_covers_every_model_file():
    files = {p.name for p in param_counts.MODELS_DIR.rglob("*.py")}
    assert {"mamba_lm.py", "transformer.py", "model.py", "router.py"} <= files


@pytest.mark.parametrize("damage", [b"{trunc", b"[1, 2]", b"\xff\xfe", b'{"k": "not a count"}'])
def test_a_damaged_file_is_ignored_and_rewritten(damage):
    path = param_counts.cache_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(damage)
    config = registry.resolve_config("mamba", "tiny")
    assert matching.count_params("mamba", config) == _fresh("mamba", config, False)
    assert isinstance(json.loads(path.read_text()), dict)


def test_an_unwritable_cache_still_counts(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache folder would be under a file
    config = registry.resolve_config("mamba", "tiny")
    assert matching.count_params("mamba", config) == _fresh("mamba", config, False)
