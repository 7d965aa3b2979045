"""Run notebooks in a kernel of another Python environment (the one `make binder-check` builds from binder/).

The runner (nbclient) comes from the book's own environment; the kernel is started with the given Python,
whose environment holds only what binder/ installs. The kernel starts in the notebook's folder without
PYTHONPATH, so `import linnet_lib` finds only the copy binder/postBuild installed; the script checks that,
and that every package the notebooks and linnet_lib import at run time imports there, before it runs the
notebooks top to bottom (outputs are not compared and nothing is written back).

Usage: python scripts/binder_check.py --python build/binder-venv/bin/python NOTEBOOK...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "linnet-binder-check"
CELL_TIMEOUT = 120
# Import names of everything the notebooks and linnet_lib import at run time (tests/test_launch.py
# checks that binder/requirements.txt covers them).
RUNTIME_IMPORTS = "numpy scipy matplotlib ipywidgets cvxpy sklearn.datasets IPython linnet_lib"
PROBE = f"""\
import importlib, sys
for name in {RUNTIME_IMPORTS.split()!r}:
    importlib.import_module(name)
import linnet_lib
assert linnet_lib.__file__.startswith(sys.prefix), linnet_lib.__file__
print("binder-check: linnet_lib from", linnet_lib.__file__)
"""


def write_kernelspec(python: Path, folder: Path) -> None:
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "binder-check", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))


def run(path: Path, cells: list | None = None) -> float:
    nb = nbformat.read(path, as_version=4) if cells is None else nbformat.v4.new_notebook()
    if cells is not None:
        nb.cells = cells
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    if cells is not None:
        for out in nb.cells[0].outputs:
            print("".join(out.get("text", "")), end="")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, type=Path)
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    python = args.python.absolute()
    os.environ.pop("PYTHONPATH", None)  # the kernel must see only the binder environment
    with tempfile.TemporaryDirectory() as tmp:
        write_kernelspec(python, Path(tmp))
        os.environ["JUPYTER_PATH"] = tmp
        run(Path(tmp) / "probe.ipynb", [nbformat.v4.new_code_cell(PROBE)])
        for path in args.notebooks:
            seconds = run(path.absolute())
            print(f"binder-check: {path} ran top to bottom in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
