"""The quality corpus: reproducible builds, no unit in two splits, near-duplicates kept
together, checksums enforced, canonical text; the tokenizer's determinism and byte counts;
evaluation windows and bits-per-byte arithmetic."""
from __future__ import annotations

import io
import math
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import UserError
from harness.quality import corpus_build, evaluate, tokenizer
from harness.quality.corpus_build import SEPARATOR, CorpusConfig, canonical, read_split, sha256_file
from harness.quality.corpus_sources import Source, files_as_units

LICENCE = ("Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
           "associated documentation files, to deal in the Software without restriction, including without "
           "limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and sell copies. ")


def artifact(tmp_path, files: dict[str, str]) -> tuple[str, str]:
    path = tmp_path / "cache" / "fixture-1.0.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return path.name, sha256_file(path)


@pytest.fixture
def sources(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    files = {f"prose/doc{i:03d}.txt": " ".join(rng.choice(words, 400)) for i in range(60)}
    files.update({f"legal/lic{i:03d}.txt": LICENCE * 3 + f"Variant {i}." for i in range(6)})  # near-duplicates
    files.update({f"legal/other{i:03d}.txt": " ".join(rng.choice(words, 300)) for i in range(20)})
    name, digest = artifact(tmp_path, files)
    fixture = [Source("fixture-prose", "pip", "fixture==1.0", name, digest, "prose", "test", files_as_units(r"^prose/")),
               Source("fixture-legal", "pip", "fixture==1.0", name, digest, "legal", "test", files_as_units(r"^legal/"))]
    monkeypatch.setattr(corpus_build, "SOURCES", fixture)
    return CorpusConfig(out=str(tmp_path / "corpus"), cache=str(tmp_path / "cache"), min_split_kb=8, vocab_size=0)


def split_docs(cfg, domain):
    return {s: [d for d in read_split(cfg.out, domain, s).split(SEPARATOR) if d] for s in corpus_build.SPLITS}


def test_build_is_reproducible_and_splits_are_disjoint(sources, tmp_path):
    first = corpus_build.build(sources)
    again = corpus_build.build(CorpusConfig(**{**sources.__dict__, "out": str(tmp_path / "again")}))
    assert first["corpus_id"] == again["corpus_id"] and first["domains"] == again["domains"]
    for domain in ("prose", "legal"):
        docs = split_docs(sources, domain)
        assert all(docs[s] for s in corpus_build.SPLITS)  # every split has text
        seen = [set(docs[s]) for s in corpus_build.SPLITS]
        assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    legal = split_docs(sources, "legal")
    holding = {s for s, docs in legal.items() if any(d.startswith("Permission is hereby") for d in docs)}
    assert len(holding) == 1  # the six near-identical licences share one unit, so one split
    assert first["near_duplicates"]["units_merged"]["legal"] == 5


def test_a_checksum_mismatch_is_refused(sources, monkeypatch):
    bad = [Source(**{**s.__dict__, "sha256": "0" * 64}) for s in corpus_build.SOURCES]
    monkeypatch.setattr(corpus_build, "SOURCES", bad)
    with pytest.raises(UserError, match="does not match the pinned"):
        corpus_build.build(sources)


def test_a_relative_cache_is_where_the_client_writes(tmp_path, monkeypatch):
    source = Source("fixture", "pip", "fixture==1.0", "fixture-1.0.tar.gz", "0" * 64, "prose", "MIT", files_as_units)
    calls = []

    def client(cmd, cwd, **_):  # a client that writes its -d directory relative to its own cwd, as pip does
        calls.append((cmd, cwd))
        dest = Path(cwd) / cmd[cmd.index("-d") + 1]
        dest.mkdir(parents=True, exist_ok=True)
        (dest / source.filename).write_bytes(b"artifact")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(corpus_build.subprocess, "run", client)
    with pytest.raises(UserError, match="does not match the pinned"):  # fetched into the cache, then checked
        corpus_build.fetch(source, Path("data/sources"))
    assert (tmp_path / "data" / "sources" / source.filename).exists() and len(calls) == 1


def test_missing_corpus_says_how_to_build_it(tmp_path):
    with pytest.raises(UserError, match="corpus build"):
        read_split(tmp_path, "prose", "test")


def test_canonical_text():
    assert canonical("Cafe\u0301  \r\nline\r\n\r\n\r\n\r\nend  ") == "Caf\u00e9\nline\n\nend"


def test_tokenizer_is_deterministic_and_counts_bytes_exactly(sources):
    corpus_build.build(sources)
    digests = {tokenizer.train_bpe(sources.out, 300) for _ in range(2)}
    assert len(digests) == 1
    codec = tokenizer.load(sources.out, "bpe300")
    text = read_split(sources.out, "prose", "test") + "naïve façade — ünïcödé" + SEPARATOR
    ids = codec.encode_documents(text)
    assert int(codec.token_bytes[ids].sum()) == len(text.encode())  # EOT stands for the NUL byte
    assert (ids == codec.eot_id).sum() == text.count(SEPARATOR)


def test_windows_score_every_target_once():
    spans = evaluate.windows(10, 4)
    assert spans == [(0, 4), (4, 8), (8, 9)]
    targets = [t for s, e in spans for t in range(s + 1, e + 1)]
    assert targets == list(range(1, 10))


class Uniform(torch.nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.vocab = vocab

    def forward(self, idx):
        return torch.zeros(*idx.shape, self.vocab), None


def test_bits_per_byte_of_a_uniform_model_is_log2_vocab_over_bytes_per_token():
    tokens = np.arange(101) % 257
    score = evaluate.score_stream(Uniform(257), tokens, np.ones(257, dtype=np.int64), context=16, device="cpu")
    assert score["tokens"] == 100 and score["bytes"] == 100
    assert score["nll"] == pytest.approx(100 * math.log(257))
    assert score["bpb"] == pytest.approx(math.log2(257)) and score["ppl"] == pytest.approx(257)
    two_bytes = evaluate.score_stream(Uniform(257), tokens, np.full(257, 2), context=16, device="cpu")
    assert two_bytes["bpb"] == pytest.approx(math.log2(257) / 2)


def test_a_long_document_sits_in_one_split(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(300)]
    manual = "\n\n".join(" ".join(rng.choice(words, 200)) + f" part{k}." for k in range(400))  # ~600 KB
    files = {"prose/manual.txt": manual}
    files.update({f"prose/doc{i:03d}.txt": " ".join(rng.choice(words, 2000)) for i in range(120)})
    name, digest = artifact(tmp_path, files)
    monkeypatch.setattr(corpus_build, "SOURCES", [Source("fixture-prose", "pip", "fixture==1.0", name, digest,
                                                         "prose", "test", files_as_units(r"^prose/"))])
    cfg = CorpusConfig(out=str(tmp_path / "corpus"), cache=str(tmp_path / "cache"), min_split_kb=64, vocab_size=0)
    corpus_build.build(cfg)
    docs = split_docs(cfg, "prose")
    holding = {s for s, texts in docs.items() if any(" part" in t for t in texts)}
    parts = sum(" part" in t for texts in docs.values() for t in texts)
    assert parts > 5 and len(holding) == 1  # the manual was cut, and all its parts share one split


def test_the_parts_of_a_cut_document_keep_its_unit():
    text = "\n\n".join("x" * 1000 for _ in range(600))  # ~600 KB
    parts = corpus_build.cut_long(corpus_build.Document("prose", "manual", "prose/manual", text))
    assert len(parts) > 5 and {p.unit for p in parts} == {"manual"} and len({p.doc_id for p in parts}) == len(parts)


def test_a_few_large_manuals_stay_in_train_and_the_held_out_splits_stay_near_their_target():
    from harness.quality.corpus_build import KB, CorpusConfig, assign_splits

    units = {"manual": 1400 * KB, "chapter5": 640 * KB, **{f"small{i}": 120 * KB for i in range(8)}}
    cfg = CorpusConfig(min_split_kb=256)
    assignment = assign_splits(units, "math", cfg)
    held = {s: sum(units[u] for u, where in assignment.items() if where == s) for s in ("test", "val")}
    assert assignment["manual"] == "train" and assignment["chapter5"] == "train"
    assert all(256 * KB <= size <= 512 * KB for size in held.values()), held
    only_large = assign_splits({"a": 900 * KB, "b": 800 * KB, "c": 700 * KB}, "math", cfg)
    assert sorted(only_large.values()) == ["test", "train", "val"]  # no unit fits: the smallest ones are held out
