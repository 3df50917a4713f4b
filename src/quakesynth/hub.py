"""Published models: a per-user cache, an explicit download (``pull``), verification, lookup.

``quakesynth models pull highfem`` (or :func:`pull`) downloads the published archive of a
model, checks it and converts it into a quakesynth model directory in the cache::

    $QUAKESYNTH_HOME/             (default: platformdirs.user_cache_dir("quakesynth"),
      models/                      e.g. ~/.cache/quakesynth on Linux)
        highfem/
          config.json  vae.pt  edm.pt    the converted model (quakesynth.modeldir)
          source.json                    where it came from: URL, archive SHA-256, file hashes
      .pull-XXXX.tmp/                    staging of a running pull (removed when it ends, or by
                                         the next pull if a killed process left it behind)

After that, ``load_model("highfem")`` and ``quakesynth generate --model highfem`` use it like
any other named model. Nothing is ever downloaded implicitly: loading a model that is not in
the cache raises :class:`ModelNotPulledError` with the command that pulls it.

Download. The archive is streamed into the staging folder with a progress bar and its
SHA-256 computed on the fly. A connection that drops mid-way is resumed with an HTTP
``Range`` request (or restarted from zero where the server ignores ranges), up to ``retries``
times; a pull that fails leaves nothing behind (the staging folder is removed) and an
existing model is never touched until the new one is complete (:mod:`quakesynth._atomic`).

Verification, before anything lands in the cache:

1. the archive SHA-256 against, in this order, the one the user gives (``--sha256``), the one
   pinned in :data:`PUBLISHED`, or the one recorded when the model was first pulled here
   (trust on first use: with none of these, the first-seen hash is recorded and said so);
2. the zip's integrity (the central directory, and the CRC-32 of every member extracted);
3. the two Lightning checkpoints, read with weights-only deserialisation
   (:func:`quakesynth.models.tqdne_import.safe_load_checkpoint`: a pickle that would run
   code is refused without being executed);
4. the architecture hyper-parameters the importer supports, and every weight name and shape
   (:func:`quakesynth.models.tqdne_import.convert_tqdne`).

``source.json`` keeps the archive SHA-256 and the SHA-256 of every file of the converted
model; :func:`load_pulled` checks both on every load (a modified or truncated file is refused).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Environment variable that replaces the per-user cache directory.
HOME_ENV = "QUAKESYNTH_HOME"
SOURCE_NAME = "source.json"
#: Seconds waited before retry ``k`` of an interrupted download is ``RETRY_WAIT_S * k``.
RETRY_WAIT_S = 1.0
_CHUNK = 1 << 20  # bytes read per network call
_MAX_MEMBER_BYTES = 16 << 30  # refuse archive members that claim more than 16 GiB


@dataclass(frozen=True)
class PublishedModel:
    """A model published as an archive by its authors, and how to make it a quakesynth model."""

    name: str  # registry name (load_model(name), --model name)
    url: str  # the authors' download URL
    archive: str  # file name of the archive
    members: dict[str, str]  # role -> path inside the archive ("edm", "autoencoder")
    sha256: str | None  # published SHA-256 of the archive; None = unknown here (trust on first use)
    summary: str  # one line for `quakesynth models`
    card: str  # model card, relative to the repository
    weights: str = "raw"  # which checkpoint weights to convert ("raw" state_dict, as the authors' CLI)
    notes: tuple[str, ...] = field(default_factory=tuple)


#: Models that ``pull`` knows. The SHA-256 of the HighFEM archive is not published by its
#: authors and could not be computed here (no network access when this was written): the
#: first pull records the hash it saw (trust on first use), and ``--sha256`` pins one.
PUBLISHED: dict[str, PublishedModel] = {
    "highfem": PublishedModel(
        name="highfem",
        url="https://zenodo.org/records/15687691/files/tqdne-0.2.2.zip",
        archive="tqdne-0.2.2.zip",
        members={"edm": "tqdne-0.2.2/weights/edm.ckpt", "autoencoder": "tqdne-0.2.2/weights/autoencoder.ckpt"},
        sha256=None,
        summary="HighFEM published weights (tqdne 0.2.2), trained on K-NET/KiK-net records; "
                "`quakesynth models pull highfem`",
        card="docs/model_card_highfem.md",
    ),
}


class ModelNotPulledError(FileNotFoundError):
    """A published model is asked for but is not in the cache (nothing is downloaded implicitly)."""


class DownloadError(OSError):
    """The archive could not be downloaded (no network, HTTP error, interrupted too often)."""


# -- cache ---------------------------------------------------------------------------------
def home() -> Path:
    """The cache root: ``$QUAKESYNTH_HOME`` or ``platformdirs.user_cache_dir("quakesynth")``."""
    env = os.environ.get(HOME_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("quakesynth", appauthor=False))


def model_dir(name: str) -> Path:
    """Cache folder of the published model ``name`` (it may not exist yet)."""
    return home() / "models" / _published(name).name


def _published(name: str) -> PublishedModel:
    if name not in PUBLISHED:
        raise ValueError(f"unknown published model {name!r}; pull knows {sorted(PUBLISHED)}")
    return PUBLISHED[name]


def is_pulled(name: str) -> bool:
    """Whether ``name`` is in the cache (converted, with its ``source.json``)."""
    d = model_dir(name)
    return (d / "config.json").is_file() and (d / SOURCE_NAME).is_file()


def pull_instruction(name: str) -> str:
    """One line that says how to get ``name`` into the cache."""
    m = _published(name)
    return (f"model {name!r} is not in the cache ({model_dir(name)}); nothing is downloaded implicitly: "
            f"run `quakesynth models pull {name}` (downloads {m.url}), or, with the archive "
            f"downloaded by hand, `quakesynth models pull {name} --archive {m.archive}`")


# -- hashing -------------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check_hex(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    s = sha256.strip().lower()
    if len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
        raise ValueError(f"sha256 must be 64 hexadecimal digits; got {sha256!r}")
    return s


# -- download ------------------------------------------------------------------------------
def download(url: str, dest: str | Path, retries: int = 3, timeout: float = 60.0,
             progress: bool = True) -> tuple[str, int]:
    """Stream ``url`` into the new file ``dest``; returns ``(sha256 hex, size in bytes)``.

    A connection that drops before the announced length is resumed with an HTTP ``Range``
    request from the bytes already written (restarted from zero where the server answers a
    range request with the whole file), at most ``retries`` times; so are server errors (HTTP
    5xx), while client errors (HTTP 4xx) fail at once. On any failure ``dest`` is
    removed and :class:`DownloadError` raised with a one-line reason; ``timeout`` (s) applies
    to the connection and to each read.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    if retries < 0:
        raise ValueError(f"retries must be >= 0; got {retries}")
    host = urllib.parse.urlsplit(url).netloc or url
    h, got, total, attempt = hashlib.sha256(), 0, None, 0
    bar = tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, disable=not progress,
               desc=f"download {Path(urllib.parse.urlsplit(url).path).name or host}")
    try:
        with open(dest, "wb") as f:
            while True:
                headers = {"User-Agent": _user_agent()}
                if got:
                    headers["Range"] = f"bytes={got}-"
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
                        if got and r.status != 206:  # the server ignored the range: start again
                            f.seek(0)
                            f.truncate()
                            h, got = hashlib.sha256(), 0
                            bar.reset()
                        elif got and not r.headers.get("Content-Range", "").startswith(f"bytes {got}-"):
                            raise DownloadError(f"{host} answered the resume request with the wrong range "
                                                f"({r.headers.get('Content-Range')!r} for bytes={got}-)")
                        length = r.headers.get("Content-Length")
                        total = got + int(length) if length is not None and length.isdigit() else None
                        bar.total = total
                        bar.refresh()
                        while True:
                            block = r.read(_CHUNK)
                            if not block:
                                break
                            f.write(block)
                            h.update(block)
                            got += len(block)
                            bar.update(len(block))
                    if total is None or got >= total:
                        break
                    reason = f"connection closed after {got} of {total} bytes"
                except urllib.error.HTTPError as e:
                    if e.code < 500:  # the request itself is wrong (404: no such file; 403...): do not retry
                        raise DownloadError(f"{url}: HTTP {e.code} {e.reason} (check the URL; --url gives another)") from e
                    reason = f"HTTP {e.code} {e.reason}"  # server trouble: retry
                except urllib.error.URLError as e:
                    if got == 0 and attempt == 0:
                        raise DownloadError(
                            f"cannot reach {host} ({_reason(e.reason)}): no network access? Download "
                            f"{Path(urllib.parse.urlsplit(url).path).name} elsewhere and pass it with --archive, "
                            f"or give a mirror with --url") from e
                    reason = _reason(e.reason)
                except (http.client.HTTPException, ConnectionError, TimeoutError) as e:
                    reason = _reason(e)
                attempt += 1
                if attempt > retries:
                    raise DownloadError(f"download of {url} interrupted {attempt} times (last: {reason}); "
                                        f"nothing was kept: run the command again")
                time.sleep(RETRY_WAIT_S * attempt)
    except BaseException:
        bar.close()
        dest.unlink(missing_ok=True)
        raise
    bar.close()
    return h.hexdigest(), got


def _reason(e: Any) -> str:
    if isinstance(e, http.client.IncompleteRead):
        return f"connection closed early ({len(e.partial)} bytes read, {e.expected} more expected)"
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _user_agent() -> str:
    from quakesynth import __version__

    return f"quakesynth/{__version__}"


# -- archive -------------------------------------------------------------------------------
def extract_members(archive: str | Path, members: dict[str, str], out: str | Path) -> dict[str, Path]:
    """Check the zip ``archive`` and extract ``members`` (role -> path in the archive) to
    ``out/<role>.ckpt``; returns role -> extracted path.

    A member is found at its exact path or, where the archive was re-packed under another top
    folder, as the only member ending with ``/`` + its last two path parts
    (``weights/edm.ckpt``). Raises ``ValueError`` (one line) for a file that is not a zip, a
    damaged zip (CRC-32 mismatch, truncated data) or a missing member. Nothing outside ``out``
    is written: extracted names are fixed, whatever the archive's paths.
    """
    archive, out = Path(archive), Path(out)
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive.name} is not a zip archive (damaged or incomplete download?)")
    found: dict[str, Path] = {}
    try:
        with zipfile.ZipFile(archive) as z:
            names = [i.filename for i in z.infolist() if not i.is_dir()]
            for role, member in members.items():
                name = _find_member(names, member)
                if name is None:
                    raise ValueError(f"{archive.name} lacks {member} (the published layout); it holds "
                                     f"{len(names)} files, e.g. {names[:4]}")
                info = z.getinfo(name)
                if info.file_size > _MAX_MEMBER_BYTES:
                    raise ValueError(f"{archive.name}: {name} claims {info.file_size} bytes, more than a checkpoint can be")
                target = out / f"{role}.ckpt"
                with z.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)  # the CRC-32 is checked at the end of the member
                found[role] = target
    except (ValueError, FileNotFoundError, PermissionError):
        raise
    except Exception as e:  # BadZipFile (CRC-32, truncated), zlib.error, EOFError, OSError
        raise ValueError(f"{archive.name} is damaged ({_reason(e)})") from e
    return found


def _find_member(names: list[str], member: str) -> str | None:
    if member in names:
        return member
    tail = "/" + "/".join(member.split("/")[-2:])
    hits = [n for n in names if ("/" + n).endswith(tail)]
    return hits[0] if len(hits) == 1 else None


# -- pull ----------------------------------------------------------------------------------
def pull(name: str = "highfem", url: str | None = None, archive: str | Path | None = None,
         sha256: str | None = None, force: bool = False, progress: bool = True, retries: int = 3,
         timeout: float = 60.0, echo: Callable[[str], None] | None = None) -> Path:
    """Download, verify and convert a published model into the cache; returns its folder.

    Parameters
    ----------
    name : a key of :data:`PUBLISHED` (``"highfem"``).
    url : mirror to download from instead of the authors' URL.
    archive : a local copy of the archive (no download); excludes ``url``.
    sha256 : expected SHA-256 (hex) of the archive; a mismatch is refused. Without it the
        pinned hash of :data:`PUBLISHED` or the one recorded at the first pull is expected;
        with none of them the first-seen hash is recorded (trust on first use).
    force : pull again although the model is in the cache (the old copy stays until the new
        one is complete).
    progress : progress bar on stderr.
    retries, timeout : resumptions of an interrupted download; seconds per network call.
    echo : where the one-line notes go (default: stderr).

    Nothing is written to the cache unless every check passes; a failure raises
    ``ValueError`` (bad archive, checksum, checkpoint) or :class:`DownloadError` (network).
    """
    from quakesynth._atomic import atomic_path

    m = _published(name)
    if url is not None and archive is not None:
        raise ValueError("give either url or archive, not both")
    sha256 = _check_hex(sha256)
    say = echo or _stderr
    target = model_dir(name)
    try:
        previous = read_source(name) if is_pulled(name) else None
    except ValueError:  # an unreadable source.json: only --force may replace the model
        if not force:
            raise
        previous = None
    if previous is not None and not force:
        if sha256 is not None and sha256 != previous.get("archive_sha256"):
            raise ValueError(f"{name} in the cache came from an archive with sha256 {previous.get('archive_sha256')}, "
                             f"not {sha256}; pass --force to pull again")
        say(f"{name} is already in the cache ({target}); --force pulls it again")
        return target
    if archive is not None:
        archive = Path(archive)
        if not archive.is_file():
            raise FileNotFoundError(f"archive {str(archive)!r} not found")
    expected, why = _expected_sha256(m, sha256, previous)
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(root)
    staging = Path(tempfile.mkdtemp(prefix=".pull-", suffix=".tmp", dir=root))
    try:
        source_url = None
        if archive is None:
            source_url = url or m.url
            local = staging / m.archive
            digest, size = download(source_url, local, retries=retries, timeout=timeout, progress=progress)
        else:
            local = archive
            digest, size = sha256_file(local), local.stat().st_size
        if expected is not None and digest != expected:
            label = {"given": "given with --sha256", "pinned": "the published checksum pinned in quakesynth",
                     "first-seen": f"first seen when {name} was pulled here; --sha256 {digest} accepts this archive"}[why]
            raise ValueError(f"{m.archive} has sha256 {digest}, expected {expected} ({label}); refused, "
                             f"the cache is unchanged")
        ckpts = extract_members(local, m.members, staging)
        configs, state_dicts = _convert(m, ckpts)
        configs["provenance"].update({"archive": m.archive, "archive_url": source_url,
                                      "archive_sha256": digest, "members": dict(m.members)})
        with atomic_path(target, overwrite=True, directory=True) as tmp:
            from quakesynth.modeldir import save_model_dir

            save_model_dir(tmp, configs, state_dicts, overwrite=True)
            status = ("given by the user (--sha256)" if why == "given" else
                      "pinned in quakesynth.hub.PUBLISHED" if why == "pinned" else
                      "recorded at the first pull here: trust on first use" if why == "first-seen" else
                      "first seen here, not checked against a published value: trust on first use")
            source = {
                "name": name, "url": source_url, "archive": m.archive if archive is None else Path(archive).name,
                "archive_sha256": digest, "archive_bytes": size, "sha256_status": status,
                "members": dict(m.members), "weights": m.weights, "card": m.card,
                "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "quakesynth_version": _user_agent().split("/", 1)[1],
                "files": {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()},
            }
            (tmp / SOURCE_NAME).write_text(json.dumps(source, indent=2) + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if expected is None:
        say(f"{name}: archive sha256 {digest} recorded on first use; it was NOT checked against a published "
            f"checksum (none is known to quakesynth); later pulls must match it unless --sha256 says otherwise")
    say(f"{name} pulled to {target} (archive sha256 {digest}, {size / 1e6:.1f} MB)")
    return target


#: A staging folder older than this (s) belongs to a pull that was killed (SIGKILL, power loss).
STALE_STAGING_S = 24 * 3600.0


def _remove_stale_staging(root: Path) -> None:
    """Remove the ``.pull-*.tmp`` folders that killed pulls left in ``root`` (older than
    :data:`STALE_STAGING_S`); an interrupted or failed pull removes its own."""
    now = time.time()
    for p in root.glob(".pull-*.tmp"):
        try:
            if p.is_dir() and now - p.stat().st_mtime > STALE_STAGING_S:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr)


def _expected_sha256(m: PublishedModel, given: str | None, previous: dict | None) -> tuple[str | None, str]:
    if given is not None:
        return given, "given"
    if m.sha256 is not None:
        return _check_hex(m.sha256), "pinned"
    if previous is not None and previous.get("archive_sha256"):
        return str(previous["archive_sha256"]), "first-seen"
    return None, "none"


def _convert(m: PublishedModel, ckpts: dict[str, Path]) -> tuple[dict[str, Any], dict]:
    """The importer on the extracted checkpoints, its errors as one line naming the archive."""
    from quakesynth.models.tqdne_import import TQDNE_DESCRIPTION, convert_tqdne

    try:
        configs, state_dicts = convert_tqdne(ckpts["edm"], ckpts["autoencoder"], weights=m.weights)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        for role, p in ckpts.items():  # name the member, not the staging path
            msg = msg.replace(repr(str(p)), m.members[role]).replace(str(p), m.members[role])
        raise ValueError(f"{m.archive}: {msg}; refused, the cache is unchanged") from e
    configs["name"] = m.name
    configs["description"] = TQDNE_DESCRIPTION
    return configs, state_dicts


# -- load ----------------------------------------------------------------------------------
def read_source(name: str) -> dict[str, Any]:
    """``source.json`` of a pulled model (raises :class:`ModelNotPulledError` if absent)."""
    p = model_dir(name) / SOURCE_NAME
    if not p.is_file() or not (p.parent / "config.json").is_file():
        raise ModelNotPulledError(pull_instruction(name))
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p} is not valid JSON ({e}); pull the model again with --force") from e


def verify(name: str) -> dict[str, Any]:
    """Check a pulled model against its ``source.json``: every file's SHA-256, and the archive
    SHA-256 against the pinned one. Returns the source record; raises ``ValueError``."""
    m, src = _published(name), read_source(name)
    d = model_dir(name)
    files = src.get("files") or {}
    if not files:
        raise ValueError(f"{d / SOURCE_NAME} lists no file hashes; pull {name} again with --force")
    for fname, digest in files.items():
        f = d / fname
        if not f.is_file():
            raise ValueError(f"{f} is missing from the cached model; pull {name} again with --force")
        if sha256_file(f) != digest:
            raise ValueError(f"{f} was modified since {name} was pulled (sha256 differs from source.json); "
                             f"pull it again with --force")
    if m.sha256 is not None and src.get("archive_sha256") != m.sha256:
        raise ValueError(f"{name} in the cache came from an archive with sha256 {src.get('archive_sha256')}, "
                         f"not the published {m.sha256}; pull it again with --force")
    return src


def load_pulled(name: str, **kwargs: Any):
    """The generator of a pulled published model (verified first); ``kwargs`` go to
    :func:`quakesynth.generate.highfem.load_generator` (``num_steps``, ``solver``, ``gl_iters``...).
    Raises :class:`ModelNotPulledError` with the pull command when it is not in the cache."""
    verify(name)
    from quakesynth.generate.highfem import load_generator

    kwargs.setdefault("name", name)
    return load_generator(model_dir(name), **kwargs)


def loader(name: str) -> Callable[..., Any]:
    """A picklable factory ``f(**kwargs) -> load_pulled(name, **kwargs)`` for the registry."""
    return functools.partial(load_pulled, name)


def published_summaries() -> dict[str, str]:
    """Published model names and their one-line summaries."""
    return {k: v.summary for k, v in PUBLISHED.items()}


def pulled_info(name: str) -> dict[str, Any]:
    """What ``quakesynth models`` shows of a pulled model, read without loading its weights:
    the ``Generator.info()`` keys (variables with unit and training range, fs, components,
    n_samples) plus ``size_bytes``, ``source`` (URL or archive), ``archive_sha256``,
    ``sha256_status``, ``pulled_at`` and ``path``."""
    from quakesynth.scenario import unit

    src = read_source(name)
    d = model_dir(name)
    cfg = json.loads((d / "config.json").read_text())
    cond, wf = cfg.get("conditioning", {}), cfg.get("waveform", {})
    ranges = cond.get("ranges", {})
    variables = {v: {"unit": unit(v), "range": list(ranges.get(v, [float("-inf"), float("inf")]))}
                 for v in cond.get("variables", [])}
    return {"name": name, "description": cfg.get("description", ""), "variables": variables,
            "fs": float(wf.get("fs", 0.0)), "components": wf.get("components", ""),
            "n_samples": int(wf.get("n_samples", 0)), "path": str(d),
            "size_bytes": sum(p.stat().st_size for p in d.iterdir() if p.is_file()),
            "source": src.get("url") or f"archive {src.get('archive')}",
            "archive_sha256": src.get("archive_sha256"), "sha256_status": src.get("sha256_status"),
            "pulled_at": src.get("pulled_at")}


def remove(name: str) -> Path:
    """Delete a pulled model from the cache; returns the folder that was removed.

    The folder is first renamed into a staging folder of the cache root (one atomic rename),
    then deleted: an interrupted removal never leaves a half model under its name (what is
    left is a ``.pull-*.tmp`` folder, removed by a later pull)."""
    d = model_dir(name)
    if not d.exists():
        raise ModelNotPulledError(f"model {name!r} is not in the cache ({d}); nothing to remove")
    trash = Path(tempfile.mkdtemp(prefix=".pull-removed-", suffix=".tmp", dir=home()))
    d.rename(trash / d.name)
    shutil.rmtree(trash)
    return d
