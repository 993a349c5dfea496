"""Seeding: one integer seed per fit, derived from ``random_state``."""

import contextlib

import numpy as np
import torch
from sklearn.utils import check_random_state

_MAX_SEED = 2**31 - 1


def draw_seed(random_state):
    """Draw the integer seed of a fit from an sklearn-style ``random_state``.

    ``None`` gives a fresh seed each time; an int always gives the same seed; a
    :class:`numpy.random.RandomState` is advanced by one draw.
    """
    return int(check_random_state(random_state).randint(0, _MAX_SEED))


@contextlib.contextmanager
def seeded(seed, device):
    """Run a block with torch's global generators seeded, then restore their state.

    Module initialisation and dropout use torch's global generators; forking them keeps
    a fit reproducible without changing the random state the caller sees afterwards.
    """
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed % _MAX_SEED)
        yield


# One random stream per purpose, derived from the fit's seed (never ``seed + offset``, whose
# streams overlap those of the neighbouring seeds).
STREAMS = ("init", "shuffle", "sample", "split", "features", "centers", "bandwidth")


def stream_seed(seed, purpose, *key):
    """The seed of one purpose's random stream (``key``: e.g. the epoch) within a fit."""
    spawn_key = (STREAMS.index(purpose), *(int(k) for k in key))
    sequence = np.random.SeedSequence(int(seed), spawn_key=spawn_key)
    return int(sequence.generate_state(1)[0]) % _MAX_SEED


def epoch_generator(seed, epoch, device):
    """A :class:`torch.Generator` on ``device`` for the shuffling of one epoch."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    return generator
