"""Main job on the bundled sample, for `ray job submit -- python jobs/demo.py` or plain python."""

from __future__ import annotations

import sys

from cryoray.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
