"""The old import path of :mod:`quakesynth.evaluate.physics` (the evaluation lives in ``evaluate/``).

The same module object, so every name (public or private) and every monkeypatch is shared.
"""

import sys

from quakesynth.evaluate import physics as _module

sys.modules[__name__] = _module
