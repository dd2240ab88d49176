"""Load a model folder's tokenizer, quickly when its tokenizer.json says everything."""

from __future__ import annotations

import json

WHOLE_JSON_TOKENIZERS = {"Qwen2Tokenizer", "Qwen2TokenizerFast", "PreTrainedTokenizerFast", "TokenizersBackend"}
TOKENIZER_SETTINGS = ("bos_token", "eos_token", "pad_token", "unk_token", "model_max_length", "padding_side",
                      "clean_up_tokenization_spaces", "split_special_tokens")
# tokenizer_config.json keys the direct load understands; any other key (extra special tokens,
# options of a tokenizer class) sends the folder to AutoTokenizer
TOKENIZER_KEYS = {*TOKENIZER_SETTINGS, "tokenizer_class", "backend", "is_local", "local_files_only", "add_prefix_space",
                  "chat_template"}


def load_tokenizer(model_path: str):
    """The model's tokenizer. A local folder whose tokenizer.json defines the whole tokenizer (the
    bundled Qwen2 one among them) is read by the ``tokenizers`` library directly: the same ids and
    chat template as ``AutoTokenizer``, which (transformers 5.24) also parses the 7 MB JSON file
    in Python several times, ~1 s of every start. Anything else: ``AutoTokenizer``."""
    from pathlib import Path

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder = Path(model_path)
    json_file, config_file = folder / "tokenizer.json", folder / "tokenizer_config.json"
    if json_file.is_file() and config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        settings = {key: config[key] for key in TOKENIZER_SETTINGS if config.get(key) is not None}
        template_file = folder / "chat_template.jinja"
        template = template_file.read_text(encoding="utf-8") if template_file.is_file() else config.get("chat_template")
        plain = (set(config) <= TOKENIZER_KEYS and config.get("add_prefix_space") is None
                 and all(not isinstance(value, dict) for value in settings.values()))  # no AddedToken records
        if config.get("tokenizer_class") in WHOLE_JSON_TOKENIZERS and plain and isinstance(template, str | None):
            return PreTrainedTokenizerFast(tokenizer_file=str(json_file), chat_template=template, **settings)
    return AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
