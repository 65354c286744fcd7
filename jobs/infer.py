"""Batch inference job.

ray job submit --working-dir . -- python jobs/infer.py MANIFEST -o OUTPUT --model REF [options]
"""

from __future__ import annotations

import sys

from cryoray.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["predict-batch", *sys.argv[1:]]))
