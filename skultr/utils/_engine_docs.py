"""Docstring fragments written once: the engine parameters and the shared fitted attributes.

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
    "warm_start_factors": """\
warm_start : bool, default=False
    ``fit`` continues the fitted factors (and, for the stochastic solver, the optimizer
    state) for ``max_epochs`` more epochs instead of starting a new model: two fits of
    ``m`` epochs give the model of one fit of ``2m``. Every id of the new ``X`` must be in
    the fitted catalogue (declare it with ``n_users`` / ``n_items`` or the first fit's ids);
    ``n_factors`` and the solver must not change.""",
    "callbacks": """\
callbacks : list of skorch callbacks, default=None
    skorch callbacks run by the training loop: ``LRScheduler``, ``Checkpoint`` with
    ``LoadInitState`` (resume a long fit where it stopped), ``EpochScoring(...,
    on_train=True)`` (scores the data given to ``fit``), ``ProgressBar``,
    ``GradientNormClipping`` and any callback that reads ``history_``. Each fit runs
    initialised copies, so the list given here is never changed; what the callbacks record
    lands in ``history_``. A model trained by alternating least squares has no optimizer:
    callbacks that need one (``LRScheduler``) raise an error there.""",
    "factors_attributes": """\
user_factors_ : ndarray of shape (n_users, n_factors)
    Learned user factors (float64), row ``k`` for the user ``user_ids_[k]``.
item_factors_ : ndarray of shape (n_items, n_factors)
    Learned item factors (float64), row ``k`` for the item ``item_ids_[k]``. The score
    of a pair is the dot product of its two rows.""",
    "catalogue_attributes": """\
user_ids_ : ndarray of shape (n_users,)
    The user catalogue: ``0 .. n_users - 1`` when ``n_users`` is given, else the sorted
    distinct user ids of the training pairs.
item_ids_ : ndarray of shape (n_items,)
    The item catalogue: ``0 .. n_items - 1`` when ``n_items`` is given, else the sorted
    distinct item ids of the training pairs.
n_users_, n_items_ : int
    Catalogue sizes.""",
    "implicit_cold_start_attributes": """\
seen_ : scipy.sparse.csr_matrix of bool, shape (n_users, n_items)
    Training pairs (clicked or not), excluded by ``recommend(exclude_seen=True)``.
item_popularity_ : ndarray of shape (n_items,)
    Number of training users with positive feedback on each item (as floats): the
    scores of the popularity fallback for cold users.
warm_users_ : ndarray of bool, shape (n_users,)
    Users with positive feedback in training; the others are cold users (see
    ``cold_start``).""",
    "implicit_log_attributes": """\
n_clicks_ : int
    Distinct pairs with positive feedback (``y = 1``, or every pair without ``y``) trained
    on (over every shard seen, after ``partial_fit``).
n_duplicates_ : int
    Repeated (user, item) rows merged into one (their feedback aggregated with ``max``:
    a pair is clicked if any of its rows is).
{implicit_cold_start_attributes}""",
    "streaming_lists": """\
streaming : "auto" or bool, default="auto"
    Where the training batches come from. The click log always stays in host memory as
    given (float32 or float64 ``X``, not copied), with O(n_rows) index arrays. ``True``
    builds each batch when it is needed: its lists' rows are gathered, scaled, padded to
    ``(batch_size, max_position, n_features)`` float32 and moved to the device (through
    pinned memory on CUDA), so memory beyond ``X`` stays a few batches. ``False`` pads
    the whole log once into device tensors (``n_lists * max_position * n_features`` float32,
    twice the log's size for float32 ``X`` at 5 rows per list) and slices batches from them.
    ``"auto"`` streams on the CPU, where it is as fast (the network dominates a step), and
    on CUDA when the padded log would take more than a quarter of the free device memory.
    Both give the same model for the same ``random_state`` (up to float rounding). Lists
    without a click carry no gradient and are left out of the batches in both cases (they
    are counted in ``n_lists_without_clicks_``).""",
}
# The log attributes include the cold-start ones (written once, above).
ENGINE_DOCS["implicit_log_attributes"] = ENGINE_DOCS["implicit_log_attributes"].replace(
    "{implicit_cold_start_attributes}", ENGINE_DOCS["implicit_cold_start_attributes"]
)


def fill_engine_doc(cls):
    """Class decorator: put the shared engine fragments into ``cls.__doc__``."""
    doc = cls.__doc__
    for name, text in ENGINE_DOCS.items():
        doc = doc.replace(f"    {{{name}}}\n", textwrap.indent(text, "    ") + "\n")
    cls.__doc__ = doc
    return cls
