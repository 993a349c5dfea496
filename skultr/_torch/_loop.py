"""The training loop shared by every neural estimator."""

import math
import sys
import time

import torch
from torch import nn

from skultr.utils._atomic import training_started

from ._batching import batch_units, data_device, epoch_batches, n_units
from ._distributed import data_parallel, sparse_ids
from ._random import epoch_generator, seeded, stream_seed


class EarlyStopper:
    """Patience-based early stopping on a validation loss, keeping the best weights.

    An epoch improves when its loss is below ``best - tol``. After ``patience`` epochs
    without improvement training stops and the weights of the best epoch are restored.
    """

    def __init__(self, patience, tol=0.0):
        self.patience = patience
        self.tol = tol
        self.best_loss = math.inf
        self.best_epoch = None
        self.bad_epochs = 0
        self._best_state = None

    def update(self, loss, module, epoch):
        """Record an epoch's validation loss; return whether it is the best so far."""
        if loss < self.best_loss - self.tol:
            self.best_loss = loss
            self.best_epoch = epoch
            self.bad_epochs = 0
            self._best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self):
        return self.bad_epochs >= self.patience

    def restore_best(self, module):
        if self._best_state is not None:
            module.load_state_dict(self._best_state)


class _Progress:
    """verbose=0: silent; 1: a progress bar over epochs; >=2: one printed line per epoch."""

    def __init__(self, verbose, n_epochs, description):
        self.verbose = int(verbose)
        self._bar = None
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=n_epochs, desc=description, unit="epoch", file=sys.stderr)

    def epoch_end(self, row):
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(
                {k: f"{v:.4g}" for k, v in row.items() if k in ("train_loss", "valid_loss")}
            )
        elif self.verbose >= 2:
            parts = [f"epoch {row['epoch']:>4d}", f"train_loss {row['train_loss']:.5g}"]
            if "valid_loss" in row:
                best = " *" if row["valid_loss_best"] else ""
                parts.append(f"valid_loss {row['valid_loss']:.5g}{best}")
            parts.append(f"{row['dur']:.2f}s")
            print("  ".join(parts), flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()


def clip_gradients(optimizer, max_norm):
    """Clip the gradient norm of each parameter group separately (one model per group).

    Sparse gradients (embedding tables) are coalesced first, so that repeated rows count
    as their sum, and scaled like the dense ones: ``torch.nn.utils.clip_grad_norm_`` has
    no sparse norm. Groups of dense gradients go through it unchanged.
    """
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        if not any(p.grad.is_sparse for p in params):
            nn.utils.clip_grad_norm_(params, max_norm)
            continue
        squares = []
        for p in params:
            if p.grad.is_sparse:
                p.grad = p.grad.coalesce()
                squares.append(p.grad.values().detach().float().pow(2).sum())
            else:
                squares.append(p.grad.detach().float().pow(2).sum())
        total = torch.stack(squares).sum().sqrt()
        scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for p in params:
            p.grad.mul_(scale.to(p.grad.dtype))


def _epoch_mean(losses, n_units, batch_size):
    """Mean loss per unit of an epoch from its batch means (the last batch may be short)."""
    sizes = torch.full((len(losses),), float(batch_size), device=losses[0].device)
    sizes[-1] = n_units - batch_size * (len(losses) - 1)
    return float(torch.stack(losses).float() @ sizes) / n_units


def _split_loss(output):
    """A loss function returns a scalar tensor, or ``(loss, {name: part})`` to log its parts."""
    if isinstance(output, tuple):
        loss, parts = output
        return loss, parts
    return output, {}


@torch.no_grad()
def evaluate_loss(module, loss_fn, tensors, batch_size, group=None):
    """Mean of ``loss_fn`` over ``tensors`` (or a batch source) in eval mode, by batch size.

    Returns the mean loss and the means of its named parts (empty when it has none). With a
    data-parallel ``group`` the means are over the units of every rank.
    """
    was_training = module.training
    module.eval()
    total, count, part_totals = 0.0, 0, {}
    for batch in epoch_batches(tensors, batch_size):
        n = batch_units(batch)
        loss, parts = _split_loss(loss_fn(module, batch))
        total += float(loss) * n
        for name, value in parts.items():
            part_totals[name] = part_totals.get(name, 0.0) + float(value) * n
        count += n
    module.train(was_training)
    if group is not None:  # every rank evaluates its units; the sums are shared
        names = sorted(part_totals)
        total, count, *values = group.sum_floats([total, count, *map(part_totals.get, names)])
        part_totals = dict(zip(names, values, strict=True))
    return total / count, {name: value / count for name, value in part_totals.items()}


def _record_row(history, row):
    for key, value in row.items():
        history.record(key, value)


def _device_of(module, train):
    if train is not None:
        return data_device(train)
    for tensor in module.parameters():
        return tensor.device
    return torch.device("cpu")


def _previous_best(history, key):
    values = [r[key] for r in history if key in r] if history is not None else []
    return min(values) if values else math.inf


def run_epochs(
    *,
    module,
    optimizer,
    loss_fn=None,
    train=None,
    n_epochs,
    batch_size=None,
    seed,
    first_epoch=0,
    valid=None,
    stopper=None,
    clip_grad_norm=None,
    history=None,
    verbose=0,
    description="training",
    epoch_step=None,
    converged=None,
    callbacks=None,
):
    """Train ``module`` for up to ``n_epochs`` epochs: the one loop of every iterative fit.

    An epoch is either a pass of minibatch gradient steps over the device tensors
    ``train`` (``loss_fn`` and ``optimizer``), or one call of ``epoch_step`` (a solver
    step such as an alternating-least-squares sweep, which updates ``module`` itself).
    Both record the same history row, report progress the same way and share the
    stopping rules and callbacks.

    Parameters
    ----------
    module : torch.nn.Module
    optimizer : torch.optim.Optimizer or None
        Created once per model by the caller; its state carries over between calls. None
        with ``epoch_step``.
    loss_fn : callable ``(module, batch) -> scalar tensor or (scalar tensor, dict)``
        Mean loss of one batch (a tuple of tensors sliced from ``train``). It may also return
        ``(loss, parts)`` with ``parts`` a dict of named scalar tensors (for example the two
        losses of a model trained jointly); each part is averaged over the epoch like the loss
        and recorded as ``train_<name>`` (and ``valid_<name>``).
    train, valid : tuple of torch.Tensor, or batch source
        Training (and optional validation) tensors, first dimension = units; or a
        :class:`~skultr._torch._batching.BatchSource` that builds each batch from host memory
        (same units, same shuffling draws, so the same model up to float rounding).
    n_epochs, batch_size : int
    seed : int
        Shuffling seed of the fit; epoch ``e`` is shuffled by a generator seeded from
        ``(seed, e)`` so that resumed training does not repeat earlier orders.
    first_epoch : int
        Number of epochs already run on this model (for numbering and shuffling). A callback
        that loads a checkpoint at the start of training (skorch's ``LoadInitState``)
        replaces it by the length of the loaded history.
    stopper : EarlyStopper, optional
        Requires ``valid``; stops after its patience and restores the best weights.
    clip_grad_norm : float, optional
        Maximum gradient norm of each optimizer parameter group.
    history : skorch.history.History, optional
        Receives one row per epoch with the columns ``epoch``, ``train_loss``,
        ``train_loss_best``, ``train_batch_count``, [``valid_loss``, ``valid_loss_best``,
        ``valid_batch_count``], the loss parts if any, and ``dur`` (skorch's names, so
        skorch callbacks can read it).
    verbose : int
        0 silent, 1 one progress bar over the epochs, 2 one printed line per epoch.
    epoch_step : callable ``epoch -> float or (float, dict)``, optional
        Runs one epoch of a solver that is not minibatch gradient descent and returns its
        training objective (and named parts).
    converged : callable ``(previous_loss, loss) -> bool``, optional
        Stops training once it returns True (a solver's own convergence rule).
    callbacks : CallbackRunner, optional
        skorch callbacks wrapped with the estimator they watch (see ``_callbacks``).

    Under an initialised :mod:`torch.distributed` process group of two or more processes
    the minibatch epochs are data-parallel (see :mod:`skultr._torch._distributed`): every
    rank holds the same ``train``, starts from rank 0's weights, computes its piece of each
    batch, and all ranks take the same averaged step and record the same history; progress
    is shown by rank 0 only. ``epoch_step`` runs on every rank unchanged.

    Returns
    -------
    n_run : int
        Epochs run.
    """
    if epoch_step is None and (loss_fn is None or train is None or optimizer is None):
        raise TypeError("run_epochs needs loss_fn, train and optimizer, or epoch_step.")
    n_train = n_units(train) if train is not None else 0
    training_started()  # from here a failed fit cannot be undone without a copy
    group = data_parallel() if epoch_step is None else None
    n_steps = None
    if group is not None:
        group.broadcast_module(module)
        n_steps = group.n_steps(n_train, batch_size)
        verbose = verbose if group.rank == 0 else 0
    progress = _Progress(verbose, n_epochs, description)
    module.train()
    if callbacks is not None:
        first_epoch = callbacks.train_begin(first_epoch)
        history = callbacks.net.history  # a checkpoint loaded at train begin replaces it
    epoch = first_epoch
    best_train = _previous_best(history, "train_loss")
    best_valid = _previous_best(history, "valid_loss")
    previous = history[-1, "train_loss"] if history else math.inf
    try:
        for epoch in range(first_epoch + 1, first_epoch + n_epochs + 1):
            start = time.perf_counter()
            if history is not None:  # opened first: callbacks record into the epoch's row
                history.new_epoch()
                history.record("epoch", epoch)
            if callbacks is not None:
                callbacks.epoch_begin()
            # Draws inside an epoch (negative samples, dropout) come from a stream of its
            # own: a fit continued by warm_start or partial_fit makes the same draws as one
            # longer fit.
            # Data-parallel ranks draw from a stream each (their pieces differ).
            key = (epoch,) if group is None else (epoch, group.rank)
            with seeded(stream_seed(seed, "sample", *key), _device_of(module, train)):
                if epoch_step is not None:
                    loss, parts = _split_loss(epoch_step(epoch))
                    row = {"epoch": epoch, "train_loss": float(loss), "train_batch_count": 1}
                    row.update({f"train_{k}": float(v) for k, v in parts.items()})
                    if callbacks is not None:
                        callbacks.batch_begin(None)
                        callbacks.batch_end(None, row["train_loss"], 1)
                elif group is not None:
                    row = _parallel_epoch(
                        group,
                        n_steps,
                        module,
                        optimizer,
                        loss_fn,
                        train,
                        batch_size,
                        seed,
                        epoch,
                        clip_grad_norm,
                        callbacks,
                    )
                else:
                    row = _gradient_epoch(
                        module,
                        optimizer,
                        loss_fn,
                        train,
                        n_train,
                        batch_size,
                        seed,
                        epoch,
                        clip_grad_norm,
                        callbacks,
                    )
            if not math.isfinite(row["train_loss"]):
                raise FloatingPointError(
                    f"the training loss became {row['train_loss']} at epoch {epoch}; "
                    "lower lr or set clip_grad_norm."
                )
            row["train_loss_best"] = row["train_loss"] < best_train
            best_train = min(best_train, row["train_loss"])
            if valid is not None:
                row["valid_loss"], valid_parts = evaluate_loss(
                    module, loss_fn, valid, batch_size, group
                )
                row.update({f"valid_{name}": value for name, value in valid_parts.items()})
                row["valid_batch_count"] = math.ceil(n_units(valid) / batch_size)
                row["valid_loss_best"] = row["valid_loss"] < best_valid
                best_valid = min(best_valid, row["valid_loss"])
                if stopper is not None:
                    stopper.update(row["valid_loss"], module, epoch)
            row["dur"] = time.perf_counter() - start
            if history is not None:
                _record_row(history, row)
            if callbacks is not None:
                callbacks.epoch_end()
            progress.epoch_end(row)
            if stopper is not None and stopper.should_stop:
                break
            if converged is not None and converged(previous, row["train_loss"]):
                break
            previous = row["train_loss"]
    finally:
        progress.close()
    if stopper is not None:
        stopper.restore_best(module)
    if callbacks is not None:
        callbacks.train_end()
    return epoch - first_epoch


def _gradient_epoch(
    module,
    optimizer,
    loss_fn,
    train,
    n_train,
    batch_size,
    seed,
    epoch,
    clip_grad_norm,
    callbacks,
):
    """One pass of minibatch steps; returns the epoch's row of the history."""
    losses = []  # detached batch losses, summed once per epoch (no per-batch sync)
    part_losses = {}
    generator = epoch_generator(seed, epoch, data_device(train))
    for batch in epoch_batches(train, batch_size, shuffle=True, generator=generator):
        if callbacks is not None:
            callbacks.batch_begin(batch)
        optimizer.zero_grad(set_to_none=True)
        loss, parts = _split_loss(loss_fn(module, batch))
        loss.backward()
        if callbacks is not None:
            callbacks.grad_computed(batch)
        if clip_grad_norm is not None:
            clip_gradients(optimizer, clip_grad_norm)
        optimizer.step()
        losses.append(loss.detach())
        for name, value in parts.items():
            part_losses.setdefault(name, []).append(value.detach())
        if callbacks is not None:
            # skorch callbacks read each batch's loss: one device sync per batch, only here.
            callbacks.batch_end(batch, float(loss.detach()), batch_units(batch))
    row = {
        "epoch": epoch,
        "train_loss": _epoch_mean(losses, n_train, batch_size),
        "train_batch_count": len(losses),
    }
    for name, values in part_losses.items():
        row[f"train_{name}"] = _epoch_mean(values, n_train, batch_size)
    return row


def _parallel_epoch(
    group,
    n_steps,
    module,
    optimizer,
    loss_fn,
    train,
    batch_size,
    seed,
    epoch,
    clip_grad_norm,
    callbacks,
):
    """One data-parallel pass: this rank's piece of each of the ``n_steps`` batches.

    The same shuffled batches as one process (same epoch generator), each cut into one
    piece per rank; the gradients are averaged over the ranks weighted by units before
    clipping and the step, so every rank takes the same step. A rank whose piece is empty
    (a last batch of fewer units than ranks) contributes no gradient but joins the average.
    """
    parameters = [p for group_ in optimizer.param_groups for p in group_["params"]]
    sparse = sparse_ids(module)
    generator = epoch_generator(seed, epoch, data_device(train))
    batches = epoch_batches(
        train, batch_size, shuffle=True, generator=generator, part=(group.rank, group.size)
    )
    # Per step, this rank's (loss, parts...) x units stay on the device; they are summed
    # over the steps and then over the ranks once per epoch (no per-step device sync).
    weighted = []
    n_units_rank = 0
    names = None
    for step, batch in enumerate(batches):
        if step == n_steps:  # a rank with more units than the smallest drops its last batches
            break
        if callbacks is not None:
            callbacks.batch_begin(batch)
        optimizer.zero_grad(set_to_none=True)
        n = 0 if batch is None else batch_units(batch)
        if batch is not None:
            loss, parts = _split_loss(loss_fn(module, batch))
            loss.backward()
            if names is None:
                names = sorted(parts)
            values = torch.stack([loss.detach(), *(parts[k].detach() for k in names)]).double()
            weighted.append(values * n)
            n_units_rank += n
        group.average_gradients(parameters, n, sparse)
        if callbacks is not None:
            callbacks.grad_computed(batch)
        if clip_grad_norm is not None:
            clip_gradients(optimizer, clip_grad_norm)
        optimizer.step()
        if callbacks is not None:
            callbacks.batch_end(batch, 0.0 if batch is None else float(values[0]), n)
    # A rank whose every piece was empty has not seen the names of the loss's parts.
    names = group.agree_names(names)
    sums = [0.0] * (1 + len(names))
    if weighted:
        sums = torch.stack(weighted).sum(dim=0).tolist()
    totals = group.sum_floats([sums[0], n_units_rank, *sums[1:]])
    row = {
        "epoch": epoch,
        "train_loss": totals[0] / totals[1],
        "train_batch_count": n_steps,
    }
    for name, value in zip(names, totals[2:], strict=True):
        row[f"train_{name}"] = value / totals[1]
    return row
