"""Executes a notebook on its Jupyter kernel, as Jupyter's "Run All" does, with nbclient.

    python execute_notebook.py NOTEBOOK OUT [--timeout SECONDS]

The kernel is the one the notebook's metadata names, found on JUPYTER_PATH; cells run in the
notebook's folder. OUT receives the executed notebook (outputs included) whatever happens. Exit
status 0 when every cell ran, 1 when one failed (its error goes to stderr), 2 when the kernel
could not start.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


def stop(signum: int, _frame: object) -> None:
    """A SIGTERM (a caller's deadline) ends the run like an error: nbclient's exit hook then shuts
    the kernel down, which runs in a session of its own and would otherwise outlive this process."""
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, stop)
    parser = argparse.ArgumentParser(description="Executes a notebook on its Jupyter kernel with nbclient.")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    args = parser.parse_args(argv)

    notebook = nbformat.read(args.notebook, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=args.timeout,
        # The kernel's own startup (a TypeScript compiler) is slow on a busy machine.
        startup_timeout=120,
        resources={"metadata": {"path": str(args.notebook.resolve().parent)}},
    )
    try:
        client.execute()
    except NoSuchKernel as error:
        print(f"{args.notebook}: no kernel {error.name!r} on JUPYTER_PATH", file=sys.stderr)
        return 2
    except RuntimeError as error:  # jupyter_client's "Kernel died before replying to kernel_info"
        print(f"{args.notebook}: the kernel did not start: {error}", file=sys.stderr)
        return 2
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        print(f"{args.notebook}: {error}", file=sys.stderr)
        return 1
    finally:
        nbformat.write(notebook, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
