"""Docstring fragments of the engine parameters, shared by every torch estimator.

A class docstring holds a line ``{name}`` (indented like the parameter list, four spaces)
where the fragment ``name`` goes; :func:`fill_engine_doc` replaces it, so the text of an
engine parameter is written once and is the same in every estimator's documentation.
"""

import textwrap

ENGINE_DOCS = {
    "verbose": """\
verbose : int, default=0
    0 silent, 1 one progress bar over the epochs (on stderr), 2 one printed line per epoch
    (training loss, validation loss if any, seconds). The same for every solver: an ALS
    sweep or a balancing epoch is an epoch.""",
    "callbacks": """\
callbacks : list of skorch callbacks, default=None
    skorch callbacks run by the training loop: ``LRScheduler``, ``Checkpoint`` with
    ``LoadInitState`` (resume a long fit where it stopped), ``EpochScoring(...,
    on_train=True)`` (scores the data given to ``fit``), ``ProgressBar``,
    ``GradientNormClipping`` and any callback that reads ``history_``. Each fit runs
    initialised copies, so the list given here is never changed; what the callbacks record
    lands in ``history_``. A model trained by alternating least squares has no optimizer:
    callbacks that need one (``LRScheduler``) raise an error there.""",
}


def fill_engine_doc(cls):
    """Class decorator: put the shared engine fragments into ``cls.__doc__``."""
    doc = cls.__doc__
    for name, text in ENGINE_DOCS.items():
        doc = doc.replace(f"    {{{name}}}\n", textwrap.indent(text, "    ") + "\n")
    cls.__doc__ = doc
    return cls
