"""``quakesynth models``: the available models and their conditioning ranges; ``models pull``
and ``models remove`` manage the published models in the local cache (:mod:`quakesynth.hub`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click


def model_infos() -> list[dict]:
    """``Generator.info()`` of every registered model; models that cannot be loaded here get
    ``{"name", "summary", "error"}`` instead. Published models are described from their cache
    folder without loading the weights (plus ``size_bytes``, ``source``, ``archive_sha256``),
    or get ``"error"`` with the pull command when they are not pulled."""
    from quakesynth import hub
    from quakesynth.generate import available_models, load_model

    out = []
    for name, summary in available_models().items():
        try:
            info = hub.pulled_info(name) if name in hub.PUBLISHED else load_model(name).info()
        except Exception as e:  # noqa: BLE001 -- report, do not fail the listing
            out.append({"name": name, "summary": summary, "error": f"{type(e).__name__}: {e}".splitlines()[0]})
            continue
        out.append({**info, "name": name, "summary": summary})
    return out


def _range(r) -> str:
    lo, hi = r
    if not math.isfinite(lo) and not math.isfinite(hi):
        return "any"
    return f"{lo:g} .. {hi:g}"


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """List available models and their conditioning ranges; pull published ones.

    Any path to a saved model works with `quakesynth generate --model PATH` too. Published
    models (`highfem`) are used by name once pulled into the cache ($QUAKESYNTH_HOME, default
    the per-user cache folder); nothing is downloaded without `quakesynth models pull`.

    \b
    Example:
      quakesynth models
      quakesynth models --json
      quakesynth models pull highfem
    """
    if ctx.invoked_subcommand is not None:
        return
    infos = model_infos()
    if as_json:
        click.echo(json.dumps(infos, indent=1, default=str))
        return
    for info in infos:
        click.echo(f"{info['name']}: {info.get('summary') or info.get('description', '')}")
        if "error" in info:
            reason = info["error"].split(": ", 1)[-1] if info["error"].startswith("ModelNotPulledError") else info["error"]
            click.echo(f"  unavailable here ({reason})")
            continue
        if "size_bytes" in info:
            click.echo(f"  pulled: {info['path']} ({info['size_bytes'] / 1e6:.1f} MB), from {info['source']}")
            click.echo(f"  archive sha256 {info['archive_sha256']} ({info['sha256_status']})")
        click.echo(f"  output: {info['components']} components, {info['fs']:g} Hz, {info['n_samples']} samples "
                   f"({info['n_samples'] / info['fs']:g} s), acceleration in m/s^2")
        for var, v in info["variables"].items():
            unit = f" {v['unit']}" if v["unit"] else ""
            click.echo(f"  {var:<10} {_range(v['range'])}{unit}")


def _published_names() -> list[str]:
    from quakesynth.hub import PUBLISHED

    return sorted(PUBLISHED)


@command.command("pull")
@click.argument("name", type=click.Choice(_published_names()))
@click.option("--url", default=None, help="Mirror URL of the archive instead of the authors' (firewalls, proxies).")
@click.option("--archive", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Local copy of the archive (downloaded by hand): verify and convert it, no download.")
@click.option("--sha256", default=None, help="Expected SHA-256 of the archive (64 hex digits); a mismatch is refused.")
@click.option("--force", is_flag=True, help="Pull again although the model is in the cache.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Resumptions of an interrupted download.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
def pull_command(name: str, url: str | None, archive: Path | None, sha256: str | None, force: bool, retries: int,
                 progress: bool) -> None:
    """Download a published model, verify it and convert it into the cache.

    The archive is streamed with a progress bar, resumed if the connection drops, and checked
    (SHA-256, zip integrity, weights-only loading of both checkpoints, architecture) before
    anything lands in the cache; a failed pull leaves the cache as it was. The archive's
    SHA-256 is stored with the model and checked on every load. quakesynth knows no published
    checksum for highfem: the first pull records the hash it sees (trust on first use), and
    later pulls must match it unless --sha256 says otherwise.

    \b
    Example:
      quakesynth models pull highfem
      quakesynth models pull highfem --archive ~/Downloads/tqdne-0.2.2.zip
      quakesynth models pull highfem --url https://mirror.example.org/tqdne-0.2.2.zip --sha256 HEX
      quakesynth generate --model highfem --magnitude 6 --distance 40 --vs30 400 --depth 10 --gap 90 -o out.h5
    """
    from quakesynth.hub import pull

    pull(name, url=url, archive=archive, sha256=sha256, force=force, progress=progress, retries=retries,
         echo=lambda line: click.echo(f"quakesynth: {line}", err=True))


@command.command("remove")
@click.argument("name", type=click.Choice(_published_names()))
def remove_command(name: str) -> None:
    """Delete a pulled published model from the cache.

    \b
    Example:
      quakesynth models remove highfem
    """
    from quakesynth.hub import remove

    click.echo(f"removed {remove(name)}")
