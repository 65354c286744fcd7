"""Sweep job: `ray job submit --working-dir . -- python jobs/tune.py SWEEP.yaml [--set KEY=VALUE] [--resume]`."""

from __future__ import annotations

import sys

from cryoray.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
