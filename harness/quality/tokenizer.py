"""Tokenizers of the quality corpus: a byte-level BPE trained with Hugging Face `tokenizers` on
the train split only, or plain UTF-8 bytes.

A ByteLevel BPE (as in GPT-2, Radford et al. 2019) of 8k-16k tokens (`min_frequency=2`, the
256-symbol ByteLevel alphabet, one special token) trains in seconds and the same text gives
the same `tokenizer.json` bit for bit; its sha256 goes into the corpus manifest, and results
made with different tokenizers are never put in one table. Every document ends with the
end-of-text token, which stands for the corpus's NUL separator and so counts as one byte.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import UserError
from harness.quality.corpus_build import SEPARATOR, load_manifest, read_split, sha256_file, write_manifest

EOT = "<|endoftext|>"


@dataclass(frozen=True)
class Codec:
    name: str  # "bytes" or "bpe<vocab>"
    vocab_size: int
    eot_id: int
    sha256: str
    token_bytes: np.ndarray  # (vocab,) UTF-8 bytes each token stands for (EOT: 1, the separator)
    _tokenizer: object = None

    def encode_documents(self, text: str) -> np.ndarray:
        """NUL-separated documents -> token ids, each document followed by EOT."""
        docs = [doc for doc in text.split(SEPARATOR) if doc]
        encoded = ([e.ids for e in self._tokenizer.encode_batch(docs)] if self._tokenizer is not None
                   else [list(doc.encode()) for doc in docs])  # encode_batch: the same ids, on every core
        ids: list[int] = []
        for doc_ids in encoded:
            ids.extend(doc_ids)
            ids.append(self.eot_id)
        return np.asarray(ids, dtype=np.int32)

    def encode(self, text: str) -> list[int]:
        if self._tokenizer is None:
            return list(text.encode())
        return self._tokenizer.encode(text).ids


def byte_codec() -> Codec:
    sizes = np.ones(257, dtype=np.int64)
    return Codec("bytes", 257, 256, "bytes-v1", sizes)


def _bpe_path(corpus: Path, vocab_size: int) -> Path:
    return Path(corpus) / f"tokenizer-bpe{vocab_size}.json"


def train_bpe(corpus: Path, vocab_size: int) -> str:
    """Train the BPE on every domain's train split (sorted domains), save it next to the
    corpus and record its sha256 in the manifest. Returns the sha256."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    manifest = load_manifest(corpus)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)

    def documents():
        for domain in sorted(manifest["domains"]):
            yield from (d for d in read_split(corpus, domain, "train").split(SEPARATOR) if d)

    tokenizer.train_from_iterator(documents(), trainer=trainer)
    path = _bpe_path(corpus, vocab_size)
    tokenizer.save(str(path))
    digest = sha256_file(path)
    manifest["tokenizers"][f"bpe{vocab_size}"] = {"file": path.name, "sha256": digest, "vocab_size": vocab_size,
                                                  "trained_on": "train splits of every domain"}
    write_manifest(Path(corpus), manifest)
    return digest


def load(corpus: Path, name: str) -> Codec:
    """`bytes`, or a BPE recorded in the corpus manifest (`bpe16384`), checked by sha256."""
    if name == "bytes":
        return byte_codec()
    entry = load_manifest(corpus)["tokenizers"].get(name)
    if entry is None:
        valid = ["bytes", *load_manifest(corpus)["tokenizers"]]
        raise UserError(f"tokenizer {name!r} is not in {corpus}/manifest.json; valid: {', '.join(valid)}")
    path = Path(corpus) / entry["file"]
    if sha256_file(path) != entry["sha256"]:
        raise UserError(f"{path} does not match the sha256 in the manifest; rebuild with `swarm-bench corpus build`")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    vocab = tokenizer.get_vocab_size()
    # ByteLevel maps every byte to one printable character: a token's length is its byte count
    sizes = np.array([len(tokenizer.id_to_token(i)) for i in range(vocab)], dtype=np.int64)
    eot = tokenizer.token_to_id(EOT)
    sizes[eot] = 1  # the NUL separator it replaces
    return Codec(name, vocab, eot, entry["sha256"], sizes, tokenizer)
