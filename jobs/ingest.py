"""Ingest job: `ray job submit --working-dir . -- python jobs/ingest.py MANIFEST -o STORE [options]`."""

from __future__ import annotations

import sys

from cryoray.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
