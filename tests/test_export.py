"""export-adapter and export-model: the adapter as vLLM (PEFT) and llama.cpp (GGUF) load it, and
the bundled model as one GGUF file. The slow test checks that llama.cpp applying the exported GGUF
LoRA shifts the next-token logits as peft applying the original does."""

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.llm.adapters import SHIPPED_ADAPTER
from assistant.llm.export import BUNDLED_HUB_ID, export_adapter, gguf_tensor_name

SHIPPED = SHIPPED_ADAPTER


def test_a_peft_export_names_the_hub_model_it_was_trained_on(tmp_path):
    out = export_adapter(SHIPPED, tmp_path / "peft", "peft")
    config = json.loads((out / "adapter_config.json").read_text("utf-8"))
    shipped = json.loads((SHIPPED / "adapter_config.json").read_text("utf-8"))
    assert config["base_model_name_or_path"] == BUNDLED_HUB_ID and shipped["base_model_name_or_path"] == "bundled"
    assert {k: v for k, v in config.items() if k != "base_model_name_or_path"} == \
        {k: v for k, v in shipped.items() if k != "base_model_name_or_path"}
    assert (out / "adapter_model.safetensors").read_bytes() == (SHIPPED / "adapter_model.safetensors").read_bytes()


@pytest.mark.parametrize("peft_name, gguf_name", [
    ("base_model.model.model.layers.16.self_attn.q_proj.lora_A.weight", "blk.16.attn_q.weight.lora_a"),
    ("base_model.model.model.layers.23.self_attn.o_proj.lora_B.weight", "blk.23.attn_output.weight.lora_b"),
    ("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", "blk.0.ffn_down.weight.lora_a"),
    ("base_model.model.model.layers.5.mlp.gate_proj.lora_B.weight", "blk.5.ffn_gate.weight.lora_b"),
])
def test_peft_weights_get_llama_cpp_tensor_names(peft_name, gguf_name):
    assert gguf_tensor_name(peft_name, 24)[0] == gguf_name


def test_a_gguf_export_is_a_lora_adapter_llama_cpp_can_read(tmp_path):
    import gguf
    from safetensors.numpy import load_file

    path = export_adapter(SHIPPED, tmp_path / "gguf", "gguf")
    reader = gguf.GGUFReader(str(path))
    fields = {name: reader.fields[name] for name in ("general.type", "adapter.type", "adapter.lora.alpha")}
    text = {name: bytes(f.parts[f.data[0]]).decode() for name, f in fields.items() if name != "adapter.lora.alpha"}
    assert text == {"general.type": "adapter", "adapter.type": "lora"}
    assert float(fields["adapter.lora.alpha"].parts[-1][0]) == 16.0
    peft = load_file(str(SHIPPED / "adapter_model.safetensors"))
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == len(peft) == 112
    a = tensors["blk.16.attn_q.weight.lora_a"]
    original = peft["base_model.model.model.layers.16.self_attn.q_proj.lora_A.weight"]
    assert np.array_equal(np.asarray(a.data).reshape(original.shape), original)
    assert not list(tmp_path.glob("gguf/*.tmp"))


def test_the_cli_exports_and_names_the_server_command(run, tmp_path):
    code, out, err = run("export-adapter", "--format", "gguf", "--out", str(tmp_path / "g"))
    assert code == 0 and "llama-server" in out and (tmp_path / "g" / "study-lora.gguf").is_file()
    code, out, err = run("export-adapter", "--format", "peft", "--out", str(tmp_path / "p"))
    assert code == 0 and "--lora-modules study=" in out
    code, out, err = run("export-adapter", "--format", "gguf", "--out", str(tmp_path / "x"), "--adapter", str(tmp_path))
    assert code == 1 and "adapter_config.json is missing" in err and "Traceback" not in err


@pytest.mark.slow
def test_llama_cpp_with_the_gguf_lora_shifts_logits_as_peft_does(real_assistant, tmp_path):
    import torch
    from llama_cpp import Llama
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from assistant.llm.export import export_model

    gguf_model = export_model(tmp_path, progress=False)
    lora = export_adapter(SHIPPED, tmp_path, "gguf")
    prompt = "<|im_start|>user\nL1正则为什么容易产生稀疏解？<|im_end|>\n<|im_start|>assistant\n"

    def llama_cpp_logits(**settings):
        llm = Llama(model_path=str(gguf_model), n_ctx=256, logits_all=True, verbose=False, **settings)
        tokens = llm.tokenize(prompt.encode(), special=True)
        llm.eval(tokens)
        return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64), tokens

    base, tokens = llama_cpp_logits()
    shifted, _ = llama_cpp_logits(lora_path=str(lora))
    model = AutoModelForCausalLM.from_pretrained(real_assistant.model.name, dtype=torch.float32)  # the converted dir
    ids = torch.tensor([tokens])
    with torch.no_grad():
        hf_base = model(ids).logits[0, -1].double().numpy()
        hf_shifted = PeftModel.from_pretrained(model, str(SHIPPED))(ids).logits[0, -1].double().numpy()
    llama_delta, peft_delta = shifted - base, hf_shifted - hf_base
    assert np.linalg.norm(llama_delta) > 10  # the adapter does something
    assert np.corrcoef(llama_delta, peft_delta)[0, 1] > 0.95  # measured 0.997
    assert abs(np.linalg.norm(llama_delta) / np.linalg.norm(peft_delta) - 1) < 0.1


def test_export_model_writes_the_model_the_config_names(run, tmp_path, monkeypatch):
    """The larger-model extra's 1.5B is exported under its own name, from --model or the config's
    llm.model; the parts are joined and checked against that bundle's size and sha256."""
    import hashlib
    from dataclasses import replace

    from assistant.llm import model_files

    parts = []
    for i, body in enumerate((b"1.5B part one ", b"and two"), start=1):
        parts.append(tmp_path / f"part{i:02d}.bin")
        parts[-1].write_bytes(body)
    whole = b"".join(p.read_bytes() for p in parts)
    larger = replace(model_files.LARGER_GGUF, packages=("p1", "p2"), part_files=tuple(p.name for p in parts),
                     part_sizes=tuple(p.stat().st_size for p in parts), size=len(whole),
                     sha256=hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(model_files, "LARGER_GGUF", larger)
    asked = []
    monkeypatch.setattr(model_files, "find_bundled_parts", lambda bundle=None: asked.append(bundle) or parts)

    code, out, err = run("export-model", "--model", "bundled-1.5b", "--out", str(tmp_path / "a"))
    written = tmp_path / "a" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert code == 0 and written.read_bytes() == whole and str(written) in out and asked == [larger]
    config = tmp_path / "big.toml"
    config.write_text('[llm]\nmodel = "bundled-1.5b"\n', "utf-8")
    code, out, err = run("export-model", "--config", str(config), "--out", str(tmp_path / "b"))
    assert code == 0 and (tmp_path / "b" / written.name).read_bytes() == whole
    code, out, err = run("export-model", "--model", "Qwen/Qwen2.5-7B-Instruct", "--out", str(tmp_path / "c"))
    assert code == 2 and "bundled-1.5b" in err and not (tmp_path / "c").exists()
