"""The ``bakeoff`` command line. Each subcommand lives in its own module and only parses flags,
calls the library, renders progress and sets the exit code; the work happens in the library.
"""

from __future__ import annotations

import sys

from bakeoff.cli.app import app, console, err_console, fail
from bakeoff.errors import BakeoffError
from bakeoff.printable import markup

# subcommands register themselves on `app` when imported
from bakeoff.cli import bench, listing, prompt, results, run  # noqa: E402, F401  isort: skip
from bakeoff.cli import cache, export_tracking, samples  # noqa: E402, F401  isort: skip
from bakeoff.cli import artifacts, export, predict  # noqa: E402, F401  isort: skip
from bakeoff.cli import forget  # noqa: E402, F401  isort: skip
from bakeoff.report.command import report_command  # noqa: E402

app.command("report")(report_command)

__all__ = ["app", "console", "err_console", "fail", "main"]


def _quiet_libraries() -> None:
    """Our own progress bars replace the libraries' per-call bars and load reports."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import datasets
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        datasets.disable_progress_bars()
        datasets.utils.logging.set_verbosity_error()
        import huggingface_hub

        huggingface_hub.utils.logging.set_verbosity_error()
    except ImportError:
        pass


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("run", "bench", "predict", "export"):
        _quiet_libraries()
    try:
        app()
    except BakeoffError as exc:  # errors raised outside a command's own handler
        err_console.print(f"[bold red]error:[/] {markup(exc)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
