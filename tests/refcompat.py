"""Test support: import the reference libraries the tests and benchmarks cross-check against.

pyrotd 0.6 imports ``pkg_resources`` (gone from new setuptools) only to read its own version,
and hvsrpy 2.1 imports IPython only for notebook display. Where those are absent, inert
stand-ins are installed before the import. Nothing in quakesynth itself uses this, so it lives
beside the tests (``from refcompat import install_shims``), not in the package.
"""

from __future__ import annotations

import importlib.metadata
import sys
import types


def install_shims() -> None:
    """Stand-ins for ``pkg_resources.get_distribution`` and ``IPython.display`` when absent."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.get_distribution = lambda name: types.SimpleNamespace(version=importlib.metadata.version(name))
        sys.modules.setdefault("pkg_resources", shim)
    try:
        import IPython.display  # noqa: F401
    except ImportError:
        ip = types.ModuleType("IPython")
        disp = types.ModuleType("IPython.display")
        disp.display = lambda *a, **k: None
        ip.display = disp
        # matplotlib inspects any "IPython" module it finds: a version that needs no backend fix-up,
        # and "not inside IPython"
        ip.version_info = (9, 0, 0)
        ip.get_ipython = lambda: None
        sys.modules.setdefault("IPython", ip)
        sys.modules.setdefault("IPython.display", disp)



def load_script(relpath: str):
    """A repository script (``benchmarks/...py``, ``tools/...py``; not part of the package) as a module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
