"""Fault injection on the converted bundled model: each damage to the cached folder is found when
``resolve_model`` runs (size and header always, sha256 of files written since conversion), named in
a warning and survived by converting again; ``study-assistant doctor`` names it too. The bundle is
the fake one from test_model_files; conversion copies a tiny Qwen2, so the result really loads."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from assistant.config import Config, CorpusConfig
from assistant.doctor import run_doctor
from assistant.llm import model_files
from assistant.llm.model_files import BUNDLED, resolve_model
from test_model_files import fake_converter, fake_parts  # noqa: F401  (fixtures)
from tiny_model import build_tiny_qwen2


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory):
    """A tiny Qwen2 folder (model.safetensors, config, tokenizer files), built once for this file."""
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny") / "qwen2")


@pytest.fixture
def tiny_converter(fake_parts, tiny_qwen2, monkeypatch):  # noqa: F811
    """Bundled parts = the fake parts; conversion = copy the tiny Qwen2. Returns the list of calls."""
    calls = []

    def convert(gguf_path, out_dir, dtype="bfloat16"):
        calls.append(Path(gguf_path).name)
        shutil.copytree(tiny_qwen2, out_dir)
        return out_dir

    monkeypatch.setattr(model_files, "find_bundled_parts", lambda: fake_parts)
    monkeypatch.setattr(model_files, "convert_gguf_to_hf", convert)
    return calls


def load_state(path: Path) -> dict:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def tensor_span(weights: Path, name: str) -> tuple[int, int]:
    """Byte range of tensor ``name`` in a safetensors file."""
    data = weights.read_bytes()
    length = int.from_bytes(data[:8], "little")
    begin, end = json.loads(data[8:8 + length])[name]["data_offsets"]
    return 8 + length + begin, 8 + length + end


def resolve_twice(data_dir: Path, damage, caplog) -> tuple[Path, str]:
    """Convert, apply ``damage(folder)``, resolve again; the folder and the warnings logged."""
    path = Path(resolve_model(BUNDLED, data_dir, progress=False))
    damage(path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=model_files.__name__):
        assert resolve_model(BUNDLED, data_dir, progress=False) == str(path)
    return path, caplog.text


def test_truncated_weights_are_converted_again_and_load(tiny_converter, tiny_qwen2, tmp_path, caplog):
    size = (tiny_qwen2 / "model.safetensors").stat().st_size

    def truncate(path):
        with open(path / "model.safetensors", "r+b") as f:
            f.truncate(12_345)

    path, warnings = resolve_twice(tmp_path, truncate, caplog)
    assert f"model.safetensors is 12,345 bytes, expected {size:,}" in warnings
    assert "converting it again" in warnings
    assert len(tiny_converter) == 2
    original, loaded = load_state(tiny_qwen2), load_state(path)
    assert all((loaded[k] == v).all() for k, v in original.items())


def test_overwritten_tensor_bytes_are_found_by_hash(tiny_converter, tiny_qwen2, tmp_path, caplog):
    def scribble(path):
        weights = path / "model.safetensors"
        begin, end = tensor_span(weights, "model.embed_tokens.weight")
        mtime = weights.stat().st_mtime_ns
        with open(weights, "r+b") as f:  # same size, random bytes mid-tensor
            f.seek((begin + end) // 2)
            f.write(os.urandom(64))
        os.utime(weights, ns=(mtime + 10**9, mtime + 10**9))

    path, warnings = resolve_twice(tmp_path, scribble, caplog)
    assert "model.safetensors does not match its sha256" in warnings
    assert len(tiny_converter) == 2
    assert (load_state(path)["model.embed_tokens.weight"] == load_state(tiny_qwen2)["model.embed_tokens.weight"]).all()


@pytest.mark.parametrize("where", ["length", "json", "offsets"])
def test_corrupt_header_is_found_even_with_the_old_mtime(where, tiny_converter, tmp_path, caplog):
    def corrupt(path):
        weights = path / "model.safetensors"
        stat = weights.stat()
        data = bytearray(weights.read_bytes())
        length = int.from_bytes(data[:8], "little")
        if where == "length":
            data[:8] = (len(data)).to_bytes(8, "little")
        elif where == "json":
            data[8] = ord("#")
        else:  # an offset digit changed, same length: the tensors no longer end at the end of the file
            header = data[8:8 + length].decode()
            digit = header.rindex("]") - 1
            data[8 + digit] = ord("1") if header[digit] != "1" else ord("2")
        weights.write_bytes(bytes(data))
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # looks untouched

    path, warnings = resolve_twice(tmp_path, corrupt, caplog)
    assert "model.safetensors has " in warnings
    assert len(tiny_converter) == 2
    assert model_files.cache_problem(path, full_hash=True) is None


def test_deleted_tokenizer_file_is_restored(tiny_converter, tmp_path, caplog):
    path, warnings = resolve_twice(tmp_path, lambda path: (path / "tokenizer.json").unlink(), caplog)
    assert "tokenizer.json is missing" in warnings
    assert len(tiny_converter) == 2 and (path / "tokenizer.json").is_file()


@pytest.mark.parametrize("record", ["[1, 2, 3]", '{"format": 2}', "files: wrong shape", "sizes as text"])
def test_source_json_of_the_wrong_shape_is_survived(record, tiny_converter, tmp_path, caplog):
    def damage(path):
        source = json.loads((path / "source.json").read_text())
        if record == "files: wrong shape":
            source["files"] = {"model.safetensors": [1, 2]}
        elif record == "sizes as text":
            source["files"]["config.json"]["size"] = "many"
        text = json.dumps(source) if record in ("files: wrong shape", "sizes as text") else record
        (path / "source.json").write_text(text)

    path, warnings = resolve_twice(tmp_path, damage, caplog)
    assert "converting it again" in warnings
    assert len(tiny_converter) == 2
    assert model_files.cache_problem(path, full_hash=True) is None


def test_stale_convert_folders_are_removed(fake_converter, tmp_path):  # noqa: F811
    resolve_model(BUNDLED, tmp_path, progress=False)
    models = tmp_path / "models"
    stale, fresh = models / ".convert-x", models / ".convert-y"
    for work in (stale, fresh):
        (work / "model.gguf").parent.mkdir(parents=True)
        (work / "model.gguf").write_bytes(b"half a model")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    resolve_model(BUNDLED, tmp_path, progress=False)
    assert not stale.exists() and fresh.is_dir()  # a conversion running now keeps its folder
    assert len(fake_converter) == 1


# ---------------------------------------------------------------- study-assistant doctor


@pytest.fixture
def doctor_config(tmp_path, seed_corpus_dir, use_fake_encoder):
    return Config(data_dir=str(tmp_path / "data"), corpus=CorpusConfig(path=str(seed_corpus_dir)))


def test_doctor_all_ok_on_a_whole_copy(doctor_config, fake_converter):  # noqa: F811
    checks = run_doctor(doctor_config)
    assert [name for name, _, _ in checks] == ["data dir", "model parts", "converted model", "index"]
    assert all(ok for _, ok, _ in checks), checks
    assert "not converted yet" in dict((n, d) for n, _, d in checks)["converted model"]
    assert "chunks" in checks[-1][2]

    resolve_model(BUNDLED, doctor_config.data_path, progress=False)
    checks = run_doctor(doctor_config)
    assert all(ok for _, ok, _ in checks), checks
    assert "every file matches" in checks[2][2]


def test_doctor_hashes_every_file_even_with_the_old_mtime(doctor_config, fake_converter):  # noqa: F811
    path = Path(resolve_model(BUNDLED, doctor_config.data_path, progress=False))
    weights = path / "model.safetensors"
    stat = weights.stat()
    begin, end = tensor_span(weights, "a.weight")
    with open(weights, "r+b") as f:
        f.seek(begin + 4)
        f.write(b"\xff\xff\xff\xff")
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # resolve_model would not rehash it

    name, ok, detail = run_doctor(doctor_config)[2]
    assert (name, ok) == ("converted model", False)
    assert "model.safetensors does not match its sha256" in detail and "next ask converts it again" in detail
    resolve_model(BUNDLED, doctor_config.data_path, progress=False)  # as the doctor said
    assert len(fake_converter) == 2
    assert all(ok for _, ok, _ in run_doctor(doctor_config))


def test_doctor_names_a_missing_file_and_missing_parts(doctor_config, fake_converter, monkeypatch):  # noqa: F811
    path = Path(resolve_model(BUNDLED, doctor_config.data_path, progress=False))
    (path / "tokenizer_config.json").unlink()

    def not_installed():
        raise model_files.ModelFilesError("Package fake-part2 (part of the bundled model) is not installed.")

    monkeypatch.setattr(model_files, "find_bundled_parts", not_installed)
    checks = {name: (ok, detail) for name, ok, detail in run_doctor(doctor_config)}
    assert checks["model parts"] == (False, "Package fake-part2 (part of the bundled model) is not installed.")
    assert checks["converted model"][0] is False and "tokenizer_config.json is missing" in checks["converted model"][1]
    assert checks["data dir"][0] and checks["index"][0]


def test_doctor_reports_a_bad_data_dir_and_index_without_raising(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    config = Config(data_dir=str(tmp_path / "file"), corpus=CorpusConfig(path=str(tmp_path / "no-corpus")))
    config = config.with_overrides(**{"llm.model": "Qwen/Qwen2.5-0.5B-Instruct"})
    checks = {name: (ok, detail) for name, ok, detail in run_doctor(config)}
    assert checks["data dir"] == (False, f"{tmp_path / 'file'} is a file, not a folder. Pick another with --data-dir.")
    assert checks["model"] == (True, "llm.model is 'Qwen/Qwen2.5-0.5B-Instruct', not a bundled model; "
                                     "its files are not checked")
    assert checks["index"][0] is False and checks["index"][1]
