"""The training loop shared by every neural estimator."""

import math
import sys
import time

import torch
from torch import nn

from ._batching import iterate_batches, n_units
from ._random import epoch_generator


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
                parts.append(f"valid_loss {row['valid_loss']:.5g}" + (" *" if row["best"] else ""))
            parts.append(f"{row['dur']:.2f}s")
            print("  ".join(parts), flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()


def clip_gradients(optimizer, max_norm):
    """Clip the gradient norm of each parameter group separately (one model per group)."""
    for group in optimizer.param_groups:
        nn.utils.clip_grad_norm_(group["params"], max_norm)


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
def evaluate_loss(module, loss_fn, tensors, batch_size):
    """Mean of ``loss_fn`` over ``tensors`` in eval mode, weighted by batch size.

    Returns the mean loss and the means of its named parts (empty when it has none).
    """
    was_training = module.training
    module.eval()
    total, count, part_totals = 0.0, 0, {}
    for batch in iterate_batches(tensors, batch_size):
        n = batch[0].shape[0]
        loss, parts = _split_loss(loss_fn(module, batch))
        total += float(loss) * n
        for name, value in parts.items():
            part_totals[name] = part_totals.get(name, 0.0) + float(value) * n
        count += n
    module.train(was_training)
    return total / count, {name: value / count for name, value in part_totals.items()}


def run_epochs(
    *,
    module,
    optimizer,
    loss_fn,
    train,
    n_epochs,
    batch_size,
    seed,
    first_epoch=0,
    valid=None,
    stopper=None,
    clip_grad_norm=None,
    history=None,
    verbose=0,
    description="training",
):
    """Train ``module`` for up to ``n_epochs`` epochs over the device tensors ``train``.

    Parameters
    ----------
    module : torch.nn.Module
    optimizer : torch.optim.Optimizer
        Created once per model by the caller; its state carries over between calls.
    loss_fn : callable ``(module, batch) -> scalar tensor or (scalar tensor, dict)``
        Mean loss of one batch (a tuple of tensors sliced from ``train``). It may also return
        ``(loss, parts)`` with ``parts`` a dict of named scalar tensors (for example the two
        losses of a model trained jointly); each part is averaged over the epoch like the loss
        and recorded as ``train_<name>`` (and ``valid_<name>``).
    train, valid : tuple of torch.Tensor
        Training (and optional validation) tensors, first dimension = units.
    n_epochs, batch_size : int
    seed : int
        Seed of the fit; epoch ``e`` is shuffled by a generator seeded from
        ``(seed, e)`` so that resumed training does not repeat earlier orders.
    first_epoch : int
        Number of epochs already run on this model (for numbering and shuffling).
    stopper : EarlyStopper, optional
        Requires ``valid``; stops after its patience and restores the best weights.
    clip_grad_norm : float, optional
        Maximum gradient norm of each optimizer parameter group.
    history : skorch.history.History, optional
        Receives one row per epoch: epoch, train_loss, [valid_loss, best], the loss parts if
        any, dur.
    verbose : int

    Returns
    -------
    n_run : int
        Epochs run.
    """
    n_train = n_units(train)
    progress = _Progress(verbose, n_epochs, description)
    module.train()
    epoch = first_epoch
    try:
        for epoch in range(first_epoch + 1, first_epoch + n_epochs + 1):
            start = time.perf_counter()
            losses = []  # detached batch losses, summed once per epoch (no per-batch sync)
            part_losses = {}
            generator = epoch_generator(seed, epoch, train[0].device)
            for batch in iterate_batches(train, batch_size, shuffle=True, generator=generator):
                optimizer.zero_grad(set_to_none=True)
                loss, parts = _split_loss(loss_fn(module, batch))
                loss.backward()
                if clip_grad_norm is not None:
                    clip_gradients(optimizer, clip_grad_norm)
                optimizer.step()
                losses.append(loss.detach())
                for name, value in parts.items():
                    part_losses.setdefault(name, []).append(value.detach())
            row = {"epoch": epoch, "train_loss": _epoch_mean(losses, n_train, batch_size)}
            for name, values in part_losses.items():
                row[f"train_{name}"] = _epoch_mean(values, n_train, batch_size)
            if not math.isfinite(row["train_loss"]):
                raise FloatingPointError(
                    f"the training loss became {row['train_loss']} at epoch {epoch}; "
                    "lower lr or set clip_grad_norm."
                )
            if valid is not None:
                row["valid_loss"], valid_parts = evaluate_loss(module, loss_fn, valid, batch_size)
                row.update({f"valid_{name}": value for name, value in valid_parts.items()})
                row["best"] = (
                    stopper.update(row["valid_loss"], module, epoch) if stopper else False
                )
            row["dur"] = time.perf_counter() - start
            if history is not None:
                history.new_epoch()
                for key, value in row.items():
                    history.record(key, value)
            progress.epoch_end(row)
            if stopper is not None and stopper.should_stop:
                break
    finally:
        progress.close()
    if stopper is not None:
        stopper.restore_best(module)
    return epoch - first_epoch
