"""`make bench`: every benchmark, one after the other, as Markdown.

Each prints its own table, every figure next to a baseline measured in the same
run, on the same machine. They run one at a time, each in a process of its own
(its own gunicorn and Chromium), so that none disturbs another. About six
minutes on two cores, most of it publishing the 1,000-photo album and uploading
50 photos from the browser.
Run: .venv/bin/python -m bench.run [--photos 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BENCHMARKS = [
    ("Blob encryption in Python (the owner's tool)", "blob_throughput", []),
    ("Blob decryption in the browser", "viewer_decrypt_throughput", []),
    ("First screen of thumbnails", "viewer_first_paint", ["photos", "runs"]),
    ("A guest's upload of 50 photos", "upload_throughput", []),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=1000, help="photos in the first-paint album")
    parser.add_argument("--runs", type=int, default=5, help="page loads of each kind in the first-paint benchmark")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"# Benchmarks\n\n{os.cpu_count()} cores, Python {sys.version.split()[0]}\n", flush=True)
    for title, module, options in BENCHMARKS:
        print(f"## {title}: bench/{module}.py\n", flush=True)
        extra = [f"--{name}={getattr(args, name)}" for name in options]
        # As modules of the bench package, from the repository, so that they import tests.support.
        done = subprocess.run([sys.executable, "-m", f"bench.{module}", *extra], cwd=ROOT)
        if done.returncode:
            print(f"\nError: bench/{module}.py failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
        print(flush=True)
    print(f"All benchmarks took {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
