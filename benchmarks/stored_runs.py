"""What the benchmarks that read stored ``study-assistant eval`` runs share: their command line
(run files, ``--questions``, ``--config``) and the index and settings to read them with.

    args, config, index = open_runs(__doc__)
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def open_runs(doc: str, extra=None):
    """Parse the command line (``extra(parser)`` adds options), load the config (``--config``, as
    the runs were made: e.g. ``[answer] related_share = 0`` for runs that gave the model every
    retrieved section) and open its index: (args, config, index)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="eval --out JSON files made on --questions")
    parser.add_argument("--questions", default=str(REPO / "eval" / "dev.jsonl"))
    parser.add_argument("--config", help="TOML config the runs were made with (default: built-in defaults)")
    if extra:
        extra(parser)
    args = parser.parse_args()

    from assistant.config import Config
    from assistant.indexing import open_search_index

    config = Config.load(args.config)
    return args, config, open_search_index(config, progress=False)
