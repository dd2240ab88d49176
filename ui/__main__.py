"""``python -m ui [--host H] [--port P]``: the same as ``study-assistant serve``."""

import sys

from assistant.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
