"""Remove run-dependent metadata from notebooks in place (an unchanged re-run then gives no diff).

Drops each cell's ``metadata.execution`` (kernel timestamps written by Jupyter and nbclient) and the
notebook's Python patch version; everything else (tags, nbgrader and myst-nb metadata, widget
state) stays.
Usage: python scripts/strip_timing.py NOTEBOOK...
"""

import sys

import nbformat


def strip(path: str) -> bool:
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.get("language_info", {}).pop("version", None)
    after = nbformat.writes(nb)
    if after != before:
        nbformat.write(nb, path)
    return after != before


if __name__ == "__main__":
    changed = [path for path in sys.argv[1:] if strip(path)]
    print(f"strip_timing: cleaned {len(changed)} of {len(sys.argv) - 1} notebook(s)")
