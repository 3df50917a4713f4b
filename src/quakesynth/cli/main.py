"""The ``quakesynth`` command.

Each sub-command lives in its own module ``quakesynth.cli.<module>`` exposing a click command
named ``command``; it is imported only when used, so ``quakesynth --help`` stays fast and a
command whose optional dependencies are missing does not break the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from quakesynth._atomic import Terminated as _Terminated  # SIGTERM, raised where the program is
from quakesynth._atomic import clear_terminated as _clear_terminated
from quakesynth._atomic import on_sigterm as _on_sigterm

#: command name -> (module under quakesynth.cli, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("ingest", "Ingest real records (K-NET/KiK-net, SeisBench, STEAD, AT2, ObsPy) into a dataset."),
    "info": ("info", "Summarise a dataset: counts, conditioning ranges, splits, data format."),
    "ims": ("ims", "Compute intensity measures of every record of a dataset."),
    "simulate": ("simulate", "Make a stochastic-method (Boore 2003) corpus in the dataset format."),
    "calibrate": ("calibrate", "Plot simulator medians against ground-motion models."),
    "train": ("train", "Train a model (vae, edm, classifier, ...) on a dataset."),
    "import-tqdne": ("import_tqdne", "Convert published HighFEM (tqdne 0.2.2) checkpoints."),
    "bench": ("bench", "Benchmark HighFEM generation stage by stage on this hardware."),
    "generate": ("generate", "Generate waveforms for scenarios with any model."),
    "models": ("models", "List available models and their conditioning ranges."),
    "plot": ("plot", "Quick-look figure of a set of records."),
    "evaluate": ("evaluate", "Evaluate generators against a dataset and GMMs in one report."),
    "simulate-3d": ("simulate_3d", "Make a 3D wave-propagation corpus (HEMEW^S-3D layout)."),
    "refine": ("refine", "Add realistic high frequencies to low-frequency records."),
}


def _available(module: str) -> bool:
    return importlib.util.find_spec(f"quakesynth.cli.{module}") is not None


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (mod, _) in COMMANDS.items() if _available(mod)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(COMMANDS[name][0]):
            return None
        module = importlib.import_module(f"quakesynth.cli.{COMMANDS[name][0]}")
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="quakesynth")
def cli() -> None:
    """quakesynth: generative waveform models of earthquake ground motion.

    \b
    Example:
      quakesynth generate --magnitude 6.5 --distance 30 --vs30 400 --depth 10 --gap 120 -n 20 -o out.h5
    """


# -- shared options ------------------------------------------------------------------------
def threads_option(workers_param: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--threads`` option of every command that runs networks or compiled kernels.

    The value (``--threads``, else ``$QUAKESYNTH_THREADS``, else 1 per process: see
    :func:`quakesynth.parallel.default_threads` for why) is applied before the command runs
    (:func:`quakesynth.parallel.set_threads`); a command function with a ``threads``
    parameter receives the resolved number. ``workers_param`` names the command's
    worker-count parameter, if it has one.
    """
    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        import functools
        import inspect

        wants = "threads" in inspect.signature(f).parameters

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from quakesynth.parallel import set_threads

            threads = kwargs.pop("threads", None)
            workers = int(kwargs.get(workers_param) or 1) if workers_param else 1
            threads = set_threads(threads, workers=workers)
            return f(*args, **kwargs, **({"threads": threads} if wants else {}))

        return click.option(
            "--threads", type=click.IntRange(min=1), default=None,
            help="Compute threads per process [default: $QUAKESYNTH_THREADS, else 1, which never "
                 "oversubscribes a shared machine"
                 + (f"; use --{workers_param.replace('_', '-')} for data-parallel throughput"
                    if workers_param else "") + "]. "
                 "Results are bitwise reproducible for the same device and threads.")(wrapper)

    return decorator


def _error_line(e: BaseException) -> str:
    """One line for an exception: its message's first line, or the OS reason with the file."""
    if isinstance(e, OSError) and not str(e).startswith("cannot write") and e.strerror and e.filename:
        return f"{e.filename}: {str(e.strerror).lower()}"
    text = str(e).strip()
    if isinstance(e, KeyError) and e.args:
        text = f"missing key {e.args[0]!r}"
    return text.splitlines()[0] if text else type(e).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 done with dropped items, 2 bad input or an
    output that could not be written, 130 interrupted, 143 terminated by SIGTERM).

    SIGTERM is handled like Ctrl-C: temporary outputs are removed before the exit.
    """
    previous = None
    _clear_terminated()
    if sys.platform != "win32":
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread
            previous = None
    try:
        rv = cli.main(args=argv, prog_name="quakesynth", standalone_mode=False)
    except _Terminated as e:
        _clear_terminated()
        click.echo("quakesynth: terminated (SIGTERM); temporary outputs removed", err=True)
        return int(e.code)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("quakesynth: aborted", err=True)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, OSError) as e:
        click.echo(f"quakesynth: error: {_error_line(e)}", err=True)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(rv or 0)


def console() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
