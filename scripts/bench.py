"""Time every notebook (fresh kernel, one BLAS thread) and the unit tests. Nothing is overwritten.

Each notebook is read, executed with nbclient in its own folder (as `make execute` and nbval do), and
the executed copy is written to a temporary folder that is then deleted. The kernel's peak memory
(maximum resident set size, read by one extra cell appended to the copy) is printed beside the time. Notebooks over 20 s are
flagged: the whole `make test` must stay within a few minutes on 2 cores.

Usage: python scripts/bench.py [NOTEBOOK...]   (default: every notebook in chapters/ and exercises/ and the
unit tests; with notebooks named, only those are timed). Exit status 1 if a notebook fails or is slow.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbrun import notebook_client

SLOW_NOTEBOOK_SECONDS = 20.0
CELL_TIMEOUT_SECONDS = 120
SINGLE_THREAD = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


PEAK_MEMORY_CELL = (
    "import resource as _r; print('peak-rss-kib', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)"
)


def time_notebook(path: Path, scratch: Path) -> tuple[float, float, str]:
    """Seconds to run the notebook, the kernel's peak memory in MiB (nan if unknown), status."""
    nb, client = notebook_client(path, CELL_TIMEOUT_SECONDS)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL))
    start = time.perf_counter()
    try:
        client.execute()
        status = "ok"
    except Exception as error:  # report and go on with the next notebook
        status = f"FAILED ({type(error).__name__})"
    seconds = time.perf_counter() - start  # includes the (instant) memory cell
    peak = float("nan")
    for output in nb.cells[-1].get("outputs", []):
        words = output.get("text", "").split()
        if len(words) == 2 and words[0] == "peak-rss-kib":
            peak = int(words[1]) / 1024.0  # Linux reports ru_maxrss in KiB
    nbformat.write(nb, scratch / path.name)
    return seconds, peak, status


def time_unit_tests() -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    lines = (result.stdout + result.stderr).strip().splitlines()
    print(f"pytest tests/: {lines[-1] if lines else '(no output)'}")
    return seconds, result.returncode


def main() -> int:
    os.environ.update(SINGLE_THREAD)
    os.environ.pop("MPLBACKEND", None)  # kernels must draw with the inline backend, as in the book
    notebooks = [Path(arg) for arg in sys.argv[1:]]
    run_unit_tests = not notebooks  # notebooks named on the command line: time only those
    if not notebooks:
        notebooks = sorted(
            p
            for folder in ("chapters", "exercises")
            if Path(folder).is_dir()
            for p in Path(folder).rglob("*.ipynb")
            if ".ipynb_checkpoints" not in p.parts
        )
    width = max([len(str(p)) for p in notebooks] + [len("notebook")])
    rows, failures, total = [], 0, 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for path in notebooks:
            seconds, peak, status = time_notebook(path, Path(scratch))
            flag = "  SLOW (> 20 s)" if seconds > SLOW_NOTEBOOK_SECONDS else ""
            rows.append(f"{str(path):<{width}}  {seconds:8.1f}  {peak:8.0f}  {status}{flag}")
            failures += status != "ok"
            total += seconds
            print(rows[-1], flush=True)
    tests_seconds, tests_code = time_unit_tests() if run_unit_tests else (0.0, 0)
    print()
    print(f"{'notebook':<{width}}  {'seconds':>8}  {'peak MiB':>8}  status")
    print("\n".join(rows))
    print(f"{'all notebooks':<{width}}  {total:8.1f}")
    if run_unit_tests:
        print(
            f"{'unit tests (pytest tests/ -q)':<{width}}  {tests_seconds:8.1f}  exit {tests_code}"
        )
    slow = sum(row.endswith("SLOW (> 20 s)") for row in rows)
    return 1 if failures or slow or tests_code not in (0, 5) else 0


if __name__ == "__main__":
    sys.exit(main())
