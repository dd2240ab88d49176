"""``study-assistant doctor``: check the data dir, the model (the bundled model's files, or the
server and the names it serves) and the index.

Each check is ``(name, ok, detail)``, e.g. ``("data dir", True, "/home/me/.cache/study-assistant is
writable")``; the CLI prints one line per check and exits 1 when any failed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

Check = tuple[str, bool, str]  # (what was checked, whether it is fine, what was found)


def run_doctor(config) -> list[Check]:
    """All checks for ``config`` (an ``assistant.config.Config``), in the order they are printed."""
    model = check_server(config) if config.llm.backend == "openai" else check_model(config)
    return [check_data_dir(config.data_path), *model, check_index(config)]


def check_data_dir(path: Path) -> Check:
    """Whether a file can be written in ``path`` (created when missing)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path) as f:
            f.write(b"ok")
    except FileExistsError:
        return "data dir", False, f"{path} is a file, not a folder. Pick another with --data-dir."
    except OSError as err:
        return "data dir", False, (f"{path} is not writable ({err.strerror}). Fix its permissions or "
                                   "pick another with --data-dir.")
    return "data dir", True, f"{path} is writable"


def check_model(config) -> list[Check]:
    """The bundled model's part packages and, once converted, every file's size and sha256."""
    from assistant.llm import model_files

    bundle = model_files.bundle_for(config.llm.model)
    if bundle is None:
        return [("model", True, f"llm.model is {config.llm.model!r}, not a bundled model; its files are "
                                "not checked")]
    try:
        parts = model_files.find_bundled_parts() if bundle is model_files.BUNDLED_GGUF else \
            model_files.find_bundled_parts(bundle)
    except model_files.ModelFilesError as err:
        checks = [("model parts", False, str(err))]
    else:
        sizes = [path.stat().st_size for path in parts]
        bad = [(p, got, want) for p, got, want in zip(bundle.packages, sizes, bundle.part_sizes) if got != want]
        if bad:
            found = "; ".join(f"{p} holds {got:,} bytes, expected {want:,}" for p, got, want in bad)
            checks = [("model parts", False, f"{found}. Reinstall: {bundle.reinstall_command([p for p, _, _ in bad])}")]
        else:
            checks = [("model parts", True, f"{len(parts)} part packages of {bundle.name} installed")]

    folder = model_files.converted_model_path(config.data_path, bundle)
    if not folder.exists():
        checks.append(("converted model", True, "not converted yet (the first ask converts it, a minute or more)"))
    elif problem := model_files.cache_problem(folder, full_hash=True, bundle=bundle):
        checks.append(("converted model", False, f"{folder}: {problem}. The next ask converts it again "
                                                 "(about a minute)."))
    else:
        checks.append(("converted model", True, f"{folder}: every file matches its size and sha256"))
    return checks


def check_server(config) -> list[Check]:
    """The OpenAI-compatible server: reachable, and serving the configured model and adapter."""
    from assistant.llm.errors import BackendError
    from assistant.llm.openai_backend import OpenAIChatModel

    model = OpenAIChatModel(config.llm)
    try:
        served = model.served_names()
    except BackendError as err:
        return [("model server", False, str(err))]
    checks = [("model server", True, f"{model.base_url} serves {', '.join(served) or 'no model'}")]
    wanted = [name for name in (None if config.llm.model == "bundled" else config.llm.model, model.adapter) if name]
    # SGLang names an adapter "base:adapter" without listing it: the base model being served is enough
    missing = [name for name in wanted if name not in served and name.rsplit(":", 1)[0] not in served]
    if missing:
        checks.append(("served names", False, f"{', '.join(map(repr, missing))} not among them; fix [llm] model "
                                              "/ adapter or the server's --served-model-name / --lora-modules"))
    elif not served:
        checks.append(("served names", False, "the server lists no model"))
    return checks


def check_index(config) -> Check:
    """Whether the corpus index loads (it is rebuilt when out of date)."""
    try:
        from assistant.indexing import open_search_index

        index = open_search_index(config, progress=False)
    except Exception as err:  # any failure is a finding to report, not a crash
        return "index", False, f"{type(err).__name__}: {err}"
    return "index", True, f"{len(index.sections):,} sections, {len(index.chunks):,} chunks"
