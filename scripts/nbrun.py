"""The one way the authoring scripts (bench, mutants) set up a notebook run: a fresh python3 kernel
started in the notebook's folder, with a per-cell time limit."""

from __future__ import annotations

from pathlib import Path


def notebook_client(notebook: Path, timeout: int):
    """Read ``notebook`` and return ``(nb, client)``: an nbclient ``NotebookClient`` ready to execute
    it in a fresh kernel whose working directory is the notebook's folder."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(notebook).parent)}},
    )
    return nb, client
