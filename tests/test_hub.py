"""quakesynth.hub without ../shared: the download (resume, restart, refusal), archive checks,
the cache, and the messages when a published model is not pulled. No network: a loopback
HTTP server started here (127.0.0.1 only) stands in for the publisher.

The loopback server (:func:`serve`, also used by ``test_hub_pull.py``) serves byte strings
registered in ``server.files`` under URL paths, honours ``Range: bytes=N-`` when
``server.ranges`` is true (206 + Content-Range; otherwise 200 with the whole file, as servers
without range support do), and, while ``server.drops`` is positive, announces the full
Content-Length but closes the connection after half of the body (one drop per request);
while ``server.errors`` is positive, it answers HTTP 503 (one per request). Every request is
logged as ``(path, Range header or None)``.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from quakesynth import hub
from quakesynth.cli.main import main


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        data = srv.files.get(self.path)
        if srv.errors > 0:
            srv.errors -= 1
            self.send_error(503)
            return
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and srv.ranges:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes" if srv.ranges else "none")
        self.end_headers()
        if srv.drops > 0:
            srv.drops -= 1
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@contextmanager
def serve(files: dict[str, bytes] | None = None):
    """A running loopback server; yields it (``server.url(path)`` gives a full URL)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.files, srv.ranges, srv.drops, srv.errors, srv.log = dict(files or {}), True, 0, 0, []
    srv.url = lambda path: f"http://127.0.0.1:{srv.server_address[1]}{path}"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def closed_port_url(path: str = "/x.zip") -> str:
    """A loopback URL where nothing listens (connection refused, as without network)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}{path}"


def snapshot(root) -> dict[str, str]:
    """Every path under ``root`` with the SHA-256 of files (``"dir"`` for folders)."""
    from pathlib import Path

    root = Path(root)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): ("dir" if p.is_dir() else hub.sha256_file(p)) for p in sorted(root.rglob("*"))}


@pytest.fixture
def qhome(empty_quakesynth_home):
    """An empty QUAKESYNTH_HOME; interrupted downloads are retried without waiting."""
    return empty_quakesynth_home


PAYLOAD = np.random.default_rng(7).integers(0, 256, 3 * (1 << 20) + 12345, dtype=np.uint8).tobytes()
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.mark.parametrize("ranges", [True, False])
def test_download_resumes_or_restarts_after_a_drop(tmp_path, monkeypatch, ranges):
    monkeypatch.setattr(hub, "RETRY_WAIT_S", 0.0)
    with serve({"/a.zip": PAYLOAD}) as srv:
        srv.ranges, srv.drops = ranges, 1
        digest, size = hub.download(srv.url("/a.zip"), tmp_path / "a.zip", progress=False)
        log = list(srv.log)
    assert (digest, size) == (PAYLOAD_SHA, len(PAYLOAD))
    assert (tmp_path / "a.zip").read_bytes() == PAYLOAD
    assert len(log) == 2 and log[0][1] is None
    # the second request asks for the rest (the first half arrived before the drop)
    start = int(log[1][1].split("=")[1].rstrip("-"))
    assert 0 < start <= len(PAYLOAD) // 2


def test_download_retries_server_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "RETRY_WAIT_S", 0.0)
    with serve({"/a.zip": PAYLOAD}) as srv:
        srv.errors = 2
        assert hub.download(srv.url("/a.zip"), tmp_path / "a.zip", progress=False) == (PAYLOAD_SHA, len(PAYLOAD))
        assert len(srv.log) == 3
        srv.errors = 5
        with pytest.raises(hub.DownloadError, match=r"interrupted 2 times \(last: HTTP 503"):
            hub.download(srv.url("/a.zip"), tmp_path / "b.zip", retries=1, progress=False)
    assert not (tmp_path / "b.zip").exists()


def test_download_gives_up_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "RETRY_WAIT_S", 0.0)
    with serve({"/a.zip": PAYLOAD}) as srv:
        srv.drops = 10
        with pytest.raises(hub.DownloadError, match=r"interrupted 3 times \(last: connection closed after \d+ of 3158073 bytes\); nothing was kept"):
            hub.download(srv.url("/a.zip"), tmp_path / "a.zip", retries=2, progress=False)
        assert len(srv.log) == 3
        n = len(srv.log)
        with pytest.raises(hub.DownloadError, match="HTTP 404"):
            hub.download(srv.url("/missing.zip"), tmp_path / "b.zip", progress=False)
        assert len(srv.log) == n + 1  # a client error is not retried
    assert list(tmp_path.iterdir()) == []


def test_no_network_says_so(tmp_path):
    with pytest.raises(hub.DownloadError) as e:
        hub.download(closed_port_url(), tmp_path / "a.zip", progress=False)
    msg = str(e.value)
    assert "cannot reach 127.0.0.1" in msg and "no network access?" in msg and "--archive" in msg
    assert "\n" not in msg and not (tmp_path / "a.zip").exists()


def test_pull_without_network_leaves_cache_unchanged(qhome, capsys):
    import os
    import time

    stale, live = qhome / ".pull-killed.tmp", qhome / ".pull-running.tmp"
    for d in (stale, live):
        d.mkdir()
        (d / "tqdne-0.2.2.zip").write_bytes(b"half")
    old = time.time() - hub.STALE_STAGING_S - 60
    os.utime(stale, (old, old))
    before = snapshot(qhome)
    rc = main(["models", "pull", "highfem", "--url", closed_port_url("/tqdne-0.2.2.zip"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "no network access?" in err and len(err.strip().splitlines()) == 1
    # unchanged, except the staging folder that a killed pull left a day ago
    assert snapshot(qhome) == {k: v for k, v in before.items() if not k.startswith(".pull-killed.tmp")}


def _zip(members: dict[str, bytes]) -> bytes:
    from conftest import zip_bytes

    return zip_bytes(members)


def test_extract_members_checks_layout_and_integrity(tmp_path):
    members = {"edm": "tqdne-0.2.2/weights/edm.ckpt", "autoencoder": "tqdne-0.2.2/weights/autoencoder.ckpt"}
    good = _zip({"tqdne-0.2.2/README.md": b"x", members["edm"]: PAYLOAD, members["autoencoder"]: b"ae" * 1000})
    (tmp_path / "good.zip").write_bytes(good)
    out = tmp_path / "out"
    out.mkdir()
    got = hub.extract_members(tmp_path / "good.zip", members, out)
    assert got["edm"].read_bytes() == PAYLOAD and got["autoencoder"].read_bytes() == b"ae" * 1000
    # re-packed under another top folder: found by the last two path parts
    (tmp_path / "repacked.zip").write_bytes(_zip({"mirror/weights/edm.ckpt": b"e", "mirror/weights/autoencoder.ckpt": b"a"}))
    assert hub.extract_members(tmp_path / "repacked.zip", members, out)["edm"].read_bytes() == b"e"
    # missing checkpoints
    (tmp_path / "missing.zip").write_bytes(_zip({"tqdne-0.2.2/README.md": b"x"}))
    with pytest.raises(ValueError, match="lacks tqdne-0.2.2/weights/edm.ckpt"):
        hub.extract_members(tmp_path / "missing.zip", members, out)
    # a byte flipped inside the compressed data: CRC-32 or inflate error
    bad = bytearray(good)
    bad[len(good) // 2] ^= 0xFF
    (tmp_path / "flipped.zip").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="flipped.zip is damaged"):
        hub.extract_members(tmp_path / "flipped.zip", members, out)
    # truncated (no central directory)
    (tmp_path / "cut.zip").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a zip archive"):
        hub.extract_members(tmp_path / "cut.zip", members, out)


def test_generate_highfem_without_the_model_says_how_to_pull(qhome, tmp_path, capsys):
    rc = main(["generate", "--model", "highfem", "--magnitude", "6", "--distance", "40", "--vs30", "400",
               "--depth", "10", "--gap", "90", "-o", str(tmp_path / "o.h5"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "quakesynth models pull highfem" in err and "--archive tqdne-0.2.2.zip" in err
    assert "nothing is downloaded implicitly" in err
    assert not (tmp_path / "o.h5").exists() and snapshot(qhome) == {}
    import quakesynth

    with pytest.raises(hub.ModelNotPulledError, match="quakesynth models pull highfem"):
        quakesynth.load_model("highfem")


def test_models_lists_highfem_as_not_pulled(qhome, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "highfem: HighFEM published weights" in out
    assert "unavailable here (model 'highfem' is not in the cache" in out
    assert main(["models", "--json"]) == 0
    infos = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert "quakesynth models pull highfem" in infos["highfem"]["error"]


def test_cache_location(tmp_path, monkeypatch):
    monkeypatch.setenv(hub.HOME_ENV, str(tmp_path / "h"))
    assert hub.home() == tmp_path / "h" and hub.model_dir("highfem") == tmp_path / "h" / "models" / "highfem"
    monkeypatch.delenv(hub.HOME_ENV)
    import platformdirs

    assert hub.home() == __import__("pathlib").Path(platformdirs.user_cache_dir("quakesynth", appauthor=False))
    with pytest.raises(ValueError, match="unknown published model 'nope'"):
        hub.model_dir("nope")


def test_pull_argument_checks(qhome, tmp_path, capsys):
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        hub.pull("highfem", archive=tmp_path, sha256="abc")
    with pytest.raises(ValueError, match="either url or archive"):
        hub.pull("highfem", url="http://127.0.0.1/x", archive=tmp_path / "x.zip")
    assert main(["models", "pull", "nope"]) == 2
    assert main(["models", "remove", "highfem"]) == 2
    assert "not in the cache" in capsys.readouterr().err
    assert snapshot(qhome) == {}


def test_models_help_has_examples(capsys):
    from conftest import assert_help_has_example

    for args in (["models", "--help"], ["models", "pull", "--help"], ["models", "remove", "--help"]):
        assert main(args) == 0
        assert_help_has_example(capsys.readouterr().out, " ".join(args[:-1]))


def test_pull_is_reexported():
    import quakesynth.models

    assert quakesynth.models.pull is hub.pull


def test_interrupted_remove_leaves_no_half_model(qhome, monkeypatch):
    """``models remove`` renames the model away before deleting it: a removal that stops
    half-way leaves no model folder with some of its files under its name."""
    d = hub.model_dir("highfem")
    d.mkdir(parents=True)
    for f in ("config.json", hub.SOURCE_NAME, "edm.pt", "vae.pt"):
        (d / f).write_text("{}")

    def half_rmtree(path, *args, **kwargs):  # deletes one file, then the process "dies"
        next(p for p in sorted(__import__("pathlib").Path(path).rglob("*.pt"))).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(hub.shutil, "rmtree", half_rmtree)
    with pytest.raises(KeyboardInterrupt):
        hub.remove("highfem")
    assert not d.exists() and not hub.is_pulled("highfem")
    assert [p.name for p in qhome.iterdir() if p.name != "models"][0].startswith(".pull-")
