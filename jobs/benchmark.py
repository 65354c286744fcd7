"""Benchmark job: predict a test manifest and evaluate every map and built model.

ray job submit --working-dir . -- python jobs/benchmark.py TEST_MANIFEST -o OUTPUT --model REF [options]
"""

from __future__ import annotations

import sys

from cryoray.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
