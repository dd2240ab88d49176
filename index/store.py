"""Build, save and reopen search indexes under the data dir, rebuilding whenever they don't match.

An index lives in ``<data dir>/indexes/<corpus name>-<key>/`` where the key hashes everything the
index depends on: the corpus bytes, the encoder, chunking and BM25 settings and the format
version. ``manifest.json`` records those and a sha256 of every file. An index is written to a
temporary folder (``.<name>.XXXXXXXX``) and renamed into place, so a reader never sees half of one;
at open time a missing, mismatched or corrupt index is rebuilt, never read, and temporary folders
left by a killed build are removed once they are an hour old.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import reprlib
import shutil
import tempfile
import time
import typing
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus import Chunk, ChunkConfig, Corpus, Section, chunk_sections
import numpy as np

from index.encoders import (DEFAULT_ENCODER, DEFAULT_HEADING_ENCODER, Encoder, VectorCache, embed, make_encoder,
                            make_heading_encoder)
from index.lexical import BM25Index, ChineseTokenizer
from index.search import RetrievalConfig, SearchIndex
from index.vectors import VectorIndex

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # bump when parsing, chunking or the saved layout changes meaning
_FILES = ("sections.jsonl", "chunks.jsonl", "vectors.faiss", "headings.npy")
_HEADING_FILE = "headings-encoder.npy"  # present when a heading encoder is configured
_CHUNK_FILE = "chunks-encoder.npy"  # the heading encoder over the chunks (``IndexConfig.heading_encoder_chunks``)
STALE_TEMP_SECONDS = 3600  # a build's temp folder untouched this long belongs to a killed build
_TEMP_NAME = re.compile(r"\..+-[0-9a-f]{16}\.[a-z0-9_]{8}")  # tempfile.mkdtemp(prefix=".<index name>.")
# Every key a manifest written by _build has, with its type.
_MANIFEST_TYPES = {
    "format_version": int, "corpus_hash": str, "encoder": str, "dim": int, "chunking": dict, "tokenizer": str,
    "bm25": dict, "vector_index": str, "heading_encoder": str, "heading_lead_chars": int,
    "heading_encoder_chunks": bool, "corpus_root": str,
    "n_files": int, "n_sections": int, "n_chunks": int,
    "files": dict,
}


@dataclass(frozen=True)
class IndexConfig:
    """What the saved index is made of."""

    encoder: str = DEFAULT_ENCODER  # "use-multilingual-v3" (bundled) or a sentence-transformers id/dir
    heading_encoder: str = DEFAULT_HEADING_ENCODER  # embeds each question's heading as its own field:
    # "multilingual-e5-small" (bundled), a sentence-transformers id/dir, or "" (none)
    heading_lead_chars: int = 80  # what the heading encoder embeds: the question's title and the
    # opening of its answer, this many characters in all (``Section.lead_text``; 0: the heading
    # alone). On the collection's dev questions 80 lifts hit@3 from 0.892 to 0.918 and MRR from 0.829
    # to 0.864 over the heading alone (benchmarks/retrieval_levers.py)
    heading_encoder_chunks: bool = True  # the heading encoder also embeds every chunk, a second dense
    # field over them beside the main encoder's (``RetrievalConfig.chunk_encoder_weight``). On the
    # collection's dev questions it lifts hit@3 from 0.922 to 0.940 (benchmarks/retrieval_levers.py).
    # e5 reads about 3.4 chunks a second on 2 cores: the package ships the collection's vectors, and
    # large notes of one's own (3,000 chunks: about 15 minutes more to build) may turn it off
    vector_index: str = "auto"  # "flat" (exact), "hnsw" (approximate) or "auto" (by size)
    bm25_k1: float = 1.2  # BM25 term-frequency saturation
    bm25_b: float = 0.75  # BM25 length normalisation
    embed_batch_size: int = 64  # chunks per encoder call while building

    def __post_init__(self):
        if self.vector_index not in ("auto", "flat", "hnsw"):
            raise ValueError(f"vector_index should be 'auto', 'flat' or 'hnsw', got {self.vector_index!r}")
        if self.bm25_k1 < 0 or not 0 <= self.bm25_b <= 1:
            raise ValueError(f"bm25 needs k1 >= 0 and 0 <= b <= 1, got k1={self.bm25_k1}, b={self.bm25_b}")
        if self.embed_batch_size < 1:
            raise ValueError(f"embed_batch_size should be positive, got {self.embed_batch_size}")
        if self.heading_lead_chars < 0:
            raise ValueError(f"heading_lead_chars should be >= 0, got {self.heading_lead_chars}")


class CorruptIndexError(Exception):
    """A saved index is unreadable or does not match its manifest."""


def open_index(
    corpus: Corpus,
    data_dir: Path,
    chunking: ChunkConfig | None = None,
    config: IndexConfig | None = None,
    retrieval: RetrievalConfig | None = None,
    encoder: Encoder | None = None,
    progress: bool = True,
    rebuild: bool = False,
    heading_encoder: Encoder | None = None,
) -> SearchIndex:
    """The index for this corpus and these settings: reopened if a valid one is saved, else built.
    ``encoder`` and ``heading_encoder`` default to those ``config`` names."""
    chunking = chunking or ChunkConfig()
    config = config or IndexConfig()
    encoder = encoder or make_encoder(config.encoder)
    if heading_encoder is None:
        heading_encoder = make_heading_encoder(config.heading_encoder)
    tokenizer = ChineseTokenizer()
    identity = _identity(corpus, chunking, config, encoder, tokenizer, heading_encoder)
    path = index_path(data_dir, corpus, identity)
    _remove_stale_temp_folders(path.parent)
    if path.exists() and not rebuild:
        try:
            return _load(path, identity, encoder, tokenizer, retrieval, heading_encoder)
        except CorruptIndexError as err:
            log.warning("Index at %s is unusable (%s); rebuilding it.", path, err)
    return _build(corpus, path, identity, chunking, config, encoder, tokenizer, retrieval, progress, heading_encoder)


def index_path(data_dir: Path, corpus: Corpus, identity: dict) -> Path:
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return Path(data_dir) / "indexes" / f"{_slug(corpus.root)}-{key}"


def _identity(corpus, chunking, config, encoder, tokenizer, heading_encoder) -> dict:
    """Everything that, when changed, makes a saved index wrong."""
    return {
        "format_version": FORMAT_VERSION,
        "corpus_hash": corpus.content_hash,
        "encoder": encoder.id,
        "dim": encoder.dim,
        "chunking": asdict(chunking),
        "tokenizer": tokenizer.id,
        "bm25": {"k1": config.bm25_k1, "b": config.bm25_b},
        "vector_index": config.vector_index,
        "heading_encoder": heading_encoder.id if heading_encoder else "",
        "heading_lead_chars": config.heading_lead_chars if heading_encoder else 0,
        "heading_encoder_chunks": bool(heading_encoder and config.heading_encoder_chunks),
    }


def heading_encoder_texts(sections: list[Section], config: IndexConfig) -> list[str]:
    """What the heading encoder embeds for each section (``IndexConfig.heading_lead_chars``)."""
    if config.heading_lead_chars:
        return [s.lead_text(config.heading_lead_chars) for s in sections]
    return [s.heading_text for s in sections]


def _build(corpus, path, identity, chunking, config, encoder, tokenizer, retrieval, progress,
           heading_encoder) -> SearchIndex:
    started = time.perf_counter()
    chunks = chunk_sections(corpus.sections, chunking)
    if not chunks:
        raise ValueError(f"No numbered questions found in {corpus.root}: nothing to index.")
    log.info("Indexing %d sections as %d chunks from %s.", len(corpus.sections), len(chunks), corpus.root)
    texts = [c.embed_text for c in chunks]
    tokens = [tokenizer.tokenize(t) for t in texts]
    vectors = VectorIndex.build(
        embed(encoder, texts, batch_size=config.embed_batch_size, progress=progress), config.vector_index
    )
    bm25 = BM25Index(tokens, k1=config.bm25_k1, b=config.bm25_b)
    heading_texts = [s.heading_text for s in corpus.sections]
    headings = embed(encoder, heading_texts, batch_size=config.embed_batch_size, progress=progress, what="headings")
    cache = VectorCache.bundled(heading_encoder.id, heading_encoder.dim) if heading_encoder else None
    heading_vectors = None if heading_encoder is None else embed(
        heading_encoder, heading_encoder_texts(corpus.sections, config), batch_size=config.embed_batch_size,
        progress=progress, what="headings", cache=cache)
    chunk_vectors = None if not identity["heading_encoder_chunks"] else embed(
        heading_encoder, texts, batch_size=config.embed_batch_size, progress=progress,
        what=f"chunks by {heading_encoder.id}", cache=cache)
    files = _files(identity)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        _write_jsonl(tmp / "sections.jsonl", (asdict(s) for s in corpus.sections))
        _write_jsonl(tmp / "chunks.jsonl", ({**asdict(c), "tokens": t} for c, t in zip(chunks, tokens)))
        vectors.save(tmp / "vectors.faiss")
        np.save(tmp / "headings.npy", headings)
        if heading_vectors is not None:
            np.save(tmp / _HEADING_FILE, heading_vectors)
        if chunk_vectors is not None:
            np.save(tmp / _CHUNK_FILE, chunk_vectors)
        manifest = {
            **identity,
            "corpus_root": str(corpus.root),
            "n_files": len(corpus.files),
            "n_sections": len(corpus.sections),
            "n_chunks": len(chunks),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(time.perf_counter() - started, 2),
            "files": {name: _sha256(tmp / name) for name in files},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
        if path.is_dir() and not path.is_symlink():  # a stale or corrupt index with the same key
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        os.rename(tmp, path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not path.exists():
            raise
        # Another process finished the same index first: theirs is as good as ours.
    _remove_older_indexes(path, str(corpus.root))
    return SearchIndex(corpus.sections, chunks, vectors, bm25, encoder, tokenizer, retrieval, manifest, tokens,
                       headings=headings, heading_encoder=heading_encoder, heading_vectors=heading_vectors,
                       chunk_vectors=chunk_vectors)


def _load(path, identity, encoder, tokenizer, retrieval, heading_encoder) -> SearchIndex:
    """The saved index at ``path``; CorruptIndexError naming the fault if anything in it is off."""
    try:
        manifest = json.loads((path / "manifest.json").read_text("utf-8"))
        _check_manifest(manifest)
        for key, value in identity.items():
            if manifest[key] != value:
                raise CorruptIndexError(f"manifest {key} is {_short(manifest[key])}, expected {value!r}")
        for name in _files(manifest):
            if _sha256(path / name) != manifest["files"][name]:
                raise CorruptIndexError(f"{name} does not match its checksum")
        sections = [_record(Section, row, where) for where, row in _read_jsonl(path / "sections.jsonl")]
        rows = list(_read_jsonl(path / "chunks.jsonl"))
        tokens = [row.pop("tokens", None) if isinstance(row, dict) else None for _, row in rows]
        chunks = [_record(Chunk, row, where) for where, row in rows]
        if not all(isinstance(t, list) for t in tokens):
            raise CorruptIndexError("chunks.jsonl has a chunk without a list of BM25 terms")
        refs = {s.ref for s in sections}
        if any(c.section_ref not in refs for c in chunks):
            raise CorruptIndexError("chunks.jsonl names a section that sections.jsonl lacks")
        vectors = VectorIndex.load(path / "vectors.faiss")
        if len(vectors) != len(chunks) or len(chunks) != manifest["n_chunks"]:
            raise CorruptIndexError(f"{len(vectors)} vectors, {len(chunks)} chunks, "
                                    f"manifest says {manifest['n_chunks']}")
        bm25 = BM25Index(tokens, k1=manifest["bm25"]["k1"], b=manifest["bm25"]["b"])
        headings = _load_matrix(path / "headings.npy", len(sections), encoder.dim)
        heading_vectors = None if heading_encoder is None else _load_matrix(
            path / _HEADING_FILE, len(sections), heading_encoder.dim)
        chunk_vectors = _load_matrix(path / _CHUNK_FILE, len(chunks), heading_encoder.dim) \
            if manifest["heading_encoder_chunks"] else None
        return SearchIndex(sections, chunks, vectors, bm25, encoder, tokenizer, retrieval, manifest, tokens,
                           headings=headings, heading_encoder=heading_encoder, heading_vectors=heading_vectors,
                           chunk_vectors=chunk_vectors)
    except CorruptIndexError:
        raise
    except (OSError, KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise CorruptIndexError(f"{type(err).__name__}: {err}") from err


def _check_manifest(manifest) -> None:
    """CorruptIndexError unless ``manifest`` has the keys and value types _build writes:
    ``[1, 2, 3]`` -> "manifest.json holds [1, 2, 3], expected an object"."""
    if not isinstance(manifest, dict):
        raise CorruptIndexError(f"manifest.json holds {_short(manifest)}, expected an object")
    for key, kind in _MANIFEST_TYPES.items():
        if key not in manifest:
            raise CorruptIndexError(f"manifest.json has no {key!r}")
        value = manifest[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CorruptIndexError(f"manifest.json {key} is {_short(value)}, expected {kind.__name__}")
    for name in _files(manifest):
        if not isinstance(manifest["files"].get(name), str):
            raise CorruptIndexError(f"manifest.json files[{name!r}] is {_short(manifest['files'].get(name))}, "
                                    f"expected a sha256")


def _files(manifest: dict) -> tuple[str, ...]:
    """The files an index with this manifest (or identity) holds."""
    return _FILES + ((_HEADING_FILE,) if manifest.get("heading_encoder") else ()) + (
        (_CHUNK_FILE,) if manifest.get("heading_encoder_chunks") else ())


def _load_matrix(path: Path, rows: int, dim: int) -> np.ndarray:
    """A saved float32 (rows, dim) matrix; CorruptIndexError when it has another shape or type."""
    matrix = np.load(path, allow_pickle=False)
    if matrix.dtype != np.float32 or matrix.shape != (rows, dim):
        raise CorruptIndexError(f"{path.name} holds a {matrix.dtype} {matrix.shape} array, expected float32 "
                                f"({rows}, {dim})")
    return matrix


def _record(cls, row, where: str):
    """``cls(**row)`` when ``row`` is an object with exactly ``cls``'s fields, each of its declared type
    (JSON lists become tuples)."""
    if not isinstance(row, dict):
        raise CorruptIndexError(f"{where} holds {_short(row)}, expected an object")
    try:
        record = cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in row.items()})
    except TypeError as err:
        raise CorruptIndexError(f"{where}: {err}") from None
    for field, (hint, kind) in _field_types(cls).items():
        value = getattr(record, field)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)) \
                or (kind is tuple and not all(isinstance(item, str) for item in value)):
            raise CorruptIndexError(f"{where}: {field} is {_short(value)}, expected {hint}")
    return record


@functools.cache
def _field_types(cls) -> dict:
    """Field -> (type hint, class to check against): ``Section`` -> {"heading_path": (tuple[str, ...], tuple), …}."""
    return {field: (hint, typing.get_origin(hint) or hint) for field, hint in typing.get_type_hints(cls).items()}


def _remove_stale_temp_folders(indexes_dir: Path, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete temp folders of builds that were killed (nothing in them touched for ``max_age`` seconds);
    a younger one may be another process's build in progress and is kept. Returns what was removed."""
    removed = []
    try:
        candidates = [p for p in Path(indexes_dir).iterdir() if _TEMP_NAME.fullmatch(p.name)]
    except OSError:  # no indexes yet, or not readable: nothing to tidy
        return removed
    now = time.time()
    for folder in candidates:
        try:
            if not folder.is_dir() or folder.is_symlink():
                continue
            newest = max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])
        except OSError:  # removed meanwhile by another process
            continue
        if now - newest > max_age:
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                log.info("Removed %s, left by an index build that did not finish.", folder)
                removed.append(folder)
    return removed


def _remove_older_indexes(keep: Path, corpus_root: str) -> None:
    """Delete other indexes of the same corpus folder: they belong to older corpus versions or settings."""
    for other in keep.parent.glob(f"{keep.name.rsplit('-', 1)[0]}-*"):
        if other == keep or not other.is_dir():
            continue
        try:
            manifest = json.loads((other / "manifest.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("corpus_root") == corpus_root:
            shutil.rmtree(other, ignore_errors=True)


def _slug(root: Path) -> str:
    name = re.sub(r"[^\w\-]+", "_", Path(root).stem or "corpus").strip("_")
    return name[:40] or "corpus"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path):
    """(``"<file> line N"``, row) for each line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            yield f"{path.name} line {number}", json.loads(line)


def _short(value) -> str:
    """A repr cut to a readable length for messages: a huge dict shows as ``{'a': 1, ...}``."""
    return reprlib.repr(value)
