"""Seed derivation: one integer seed from a base seed and integer keys, the one place for it.

Every per-record, per-window or per-step seed in quakesynth is ``SeedSequence([seed, *keys])``
(NumPy's hash of the whole key list), so that a waveform depends on its own keys (row,
realisation, window...) and not on the batch it lands in, as NVlabs/edm's per-sample seeds do.
Two widths are in use and both are kept, because changing either would change stored outputs:

- :func:`derive_seed` -- 63-bit (the first uint64 word shifted right by one, so it is a
  non-negative ``int64``): generated waveforms, simulator corpora.
- :func:`derive_seed32` -- 32-bit (the first uint32 word): the refiner's windows and
  wavefields and the 3-D simulator's samples.

:func:`amplitude_seed` is the HighFEM amplitude draw's seed: a key (``0xA3``) appended to the
waveform seed, folded modulo ``2**63`` rather than shifted (kept for the stored models' bits).
:func:`speckle_seed` is the seed of the speckle a HighFEM model with ``phase_retrieval.speckle``
puts on its decoded log-spectrogram (:func:`derive_seed` with the key ``0x5C``).
:func:`donor_seed` is the seed of the simulator realisation whose fine structure a HighFEM model
with ``phase_retrieval.method = "donor"`` keeps (:func:`derive_seed` with the key ``0xD0``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["amplitude_seed", "derive_seed", "derive_seed32", "donor_seed", "keyed_rng", "speckle_seed"]


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed (``0 <= s < 2**63``) from ``seed`` and integer ``keys``.

    >>> derive_seed(0, 1, 2) == derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
    True
    """
    state = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def keyed_rng(seed: int, *keys: int) -> np.random.Generator:
    """A NumPy Generator seeded by ``SeedSequence([seed, *keys])`` (the random stream of one
    keyed item: an event of a corpus, a station table).

    >>> keyed_rng(3, 1).random() == keyed_rng(3, 1).random() != keyed_rng(3, 2).random()
    True
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))


def derive_seed32(seed: int, *keys: int) -> int:
    """A 32-bit seed (``0 <= s < 2**32``) from ``seed`` and integer ``keys``.

    >>> 0 <= derive_seed32(7, 3) < 2**32
    True
    """
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1)[0])


#: The key that separates a waveform's amplitude draw from its latent noise and Griffin-Lim.
AMPLITUDE_KEY = 0xA3


def amplitude_seed(seed: int) -> int:
    """The seed (``0 <= s < 2**63``) of a waveform's amplitude draw, from its waveform seed, so
    that the draw is independent of the seeded latent noise and of Griffin-Lim.

    >>> amplitude_seed(5) == amplitude_seed(5 + 2**63) != amplitude_seed(6)
    True
    """
    state = np.random.SeedSequence([int(seed) % 2**63, AMPLITUDE_KEY]).generate_state(1, np.uint64)
    return int(state[0] % np.uint64(2**63))


#: The key that separates a waveform's speckle (:meth:`LogSpectrogram.add_speckle`) from its other draws.
SPECKLE_KEY = 0x5C


def speckle_seed(seed: int) -> int:
    """The seed (``0 <= s < 2**63``) of a waveform's spectrogram speckle, from its waveform seed:
    independent of its latent noise, amplitude draw and Griffin-Lim.

    >>> speckle_seed(5) == speckle_seed(5) != speckle_seed(6)
    True
    """
    return derive_seed(seed, SPECKLE_KEY)


#: The key that separates a waveform's donor realisation (phase retrieval by envelope transfer) from its other draws.
DONOR_KEY = 0xD0


def donor_seed(seed: int) -> int:
    """The seed (``0 <= s < 2**63``) of the stochastic-simulator realisation that lends a
    waveform its phase and speckle (:meth:`LogSpectrogram.transfer_envelope`), from its
    waveform seed: independent of its latent noise, amplitude draw and speckle.

    >>> donor_seed(5) == donor_seed(5) != donor_seed(6)
    True
    """
    return derive_seed(seed, DONOR_KEY)
