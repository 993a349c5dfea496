"""Data-parallel training under :mod:`torch.distributed` (one process per device).

A script launched by ``torchrun --nproc_per_node=N`` calls
:func:`torch.distributed.init_process_group` (NCCL on GPUs, gloo on CPU) and then fits an
estimator as in one process, on every rank, on the same data. While a process group of two
or more processes is initialised, the engine trains data-parallel:

- the fit's seed is rank 0's (so ``random_state=None`` works) and every rank starts from
  rank 0's weights;
- each minibatch of ``batch_size`` units (the batch of the single-process fit, from the
  same shuffling) is cut into ``N`` contiguous pieces, rank ``r`` computes the loss and
  gradient of piece ``r``, and the gradients are averaged weighted by the pieces' units
  (one ``all_reduce`` per step) before clipping and the optimizer step: every rank takes
  the same step, so all ranks keep identical weights and optimizer state;
- the epoch losses (training and validation) are averaged over the ranks, so ``history_``,
  early stopping and the non-finite-loss check agree on every rank;
- the draws inside an epoch (negative samples, dropout) come from one stream per rank, as
  the ranks' pieces differ;
- sparse gradients (embeddings built with ``sparse=True``, the factor models' stochastic
  solver) are reduced row-wise with gloo; NCCL cannot reduce sparse tensors, so such a model
  is refused there (``NotImplementedError``).

Ranks must therefore hold the same log. Ranks that hold different numbers of units do not
hang: every epoch runs the number of steps of the smallest (the batches beyond it are
dropped on the larger ranks) and a warning says so. Solver steps (``epoch_step``, such as
an ALS sweep) are not split: each rank runs them as one process would.

Nothing here is imported by ``import skultr``; torch.distributed is only touched when a fit
runs, and costs nothing when no process group is initialised.
"""

import math
import os
import warnings

import torch


def data_parallel():
    """The :class:`DataParallel` group of this process, or None when training alone."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None
    if dist.get_world_size() < 2:
        return None
    return DataParallel(dist.get_rank(), dist.get_world_size())


def shared_seed(seed):
    """The fit's seed, rank 0's on every rank when training data-parallel.

    Fits that draw their seed before the engine starts the model (their propensity and
    feature models use it first) call this so that every rank draws the same numbers,
    ``random_state=None`` included; every rank must call it, as every rank calls ``fit``.
    """
    group = data_parallel()
    return seed if group is None else group.broadcast_seed(seed)


def local_cuda_device():
    """The CUDA device of this rank under an NCCL process group (``cuda:LOCAL_RANK``), else None.

    ``LOCAL_RANK`` is set by ``torchrun``; without it the rank modulo the visible devices.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or not torch.cuda.is_available():
        return None
    if dist.get_backend() != "nccl":
        return None
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return torch.device("cuda", local % torch.cuda.device_count())


def init_from_env(backend=None, **kwargs):
    """Initialise the default process group from ``torchrun``'s environment variables.

    ``backend`` defaults to ``"nccl"`` when CUDA is available (each rank then uses
    ``cuda:LOCAL_RANK``) and ``"gloo"`` otherwise; other keyword arguments go to
    :func:`torch.distributed.init_process_group` (a ``timeout``, say). Returns
    ``(rank, world_size)``; does nothing but report them when a group already exists.
    """
    import torch.distributed as dist

    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend=backend, **kwargs)
    return dist.get_rank(), dist.get_world_size()


def sparse_ids(module):
    """The ``id`` of the parameters of ``module`` that get sparse gradients.

    The weights of embeddings built with ``sparse=True``: known from the module, so every
    rank agrees, whether or not it computed a gradient in a step.
    """
    from torch import nn

    return frozenset(
        id(m.weight)
        for m in module.modules()
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse
    )


class DataParallel:
    """The collectives of one data-parallel fit (rank ``rank`` of ``size`` processes)."""

    def __init__(self, rank, size):
        self.rank = rank
        self.size = size

    @property
    def _device(self):
        """Where collectives run: this rank's GPU under NCCL, the CPU under gloo."""
        import torch.distributed as dist

        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def _sum(self, values, op=None):
        import torch.distributed as dist

        tensor = torch.as_tensor(values, dtype=torch.float64, device=self._device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op is None else op)
        return tensor.cpu()

    def broadcast_seed(self, seed):
        """Rank 0's seed on every rank."""
        import torch.distributed as dist

        tensor = torch.tensor([int(seed)], dtype=torch.int64, device=self._device)
        dist.broadcast(tensor, src=0)
        return int(tensor.item())

    @torch.no_grad()
    def broadcast_module(self, module):
        """Rank 0's parameters and buffers on every rank (one broadcast per tensor)."""
        import torch.distributed as dist

        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.device == self._device:
                dist.broadcast(tensor.data, src=0)
            else:
                buffer = tensor.data.to(self._device)
                dist.broadcast(buffer, src=0)
                tensor.data.copy_(buffer)

    def n_steps(self, n_units, batch_size):
        """Minibatch steps of an epoch: those of the rank with the fewest units."""
        import torch.distributed as dist

        low, negated_high = self._sum([n_units, -n_units], op=dist.ReduceOp.MIN).tolist()
        low, high = int(low), int(-negated_high)
        if low != high and self.rank == 0:
            warnings.warn(
                f"data-parallel training: the {self.size} processes hold between {low} and "
                f"{high} training units; each epoch runs the {math.ceil(low / batch_size)} "
                "steps of the smallest and drops the other batches. Load the same data on "
                "every rank.",
                UserWarning,
                stacklevel=4,
            )
        return math.ceil(low / batch_size)

    def average_gradients(self, parameters, weight, sparse_ids=frozenset()):
        """Replace each gradient by the mean over ranks weighted by ``weight`` (the units).

        One ``all_reduce`` of all dense gradients, the weight and which gradients exist,
        then one per sparse gradient (an embedding's rows, gloo only: NCCL has no sparse
        reduction). A gradient missing on a rank counts as zero there; one missing on every
        rank stays missing (the optimizer skips that parameter, as in one process).
        ``sparse_ids`` are the ``id`` of the parameters whose gradients are sparse (the
        same on every rank, also on one whose piece was empty: see :func:`sparse_ids`).
        """
        import torch.distributed as dist

        parameters = list(parameters)
        sparse = [id(p) in sparse_ids for p in parameters]
        if any(sparse) and dist.get_backend() == "nccl":
            raise NotImplementedError(
                "data-parallel training of a model with sparse gradients (embedding rows) "
                "needs the gloo backend; NCCL cannot reduce sparse tensors."
            )
        dense = [p for p, s in zip(parameters, sparse, strict=True) if not s]
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in dense]
        dtype = torch.float32
        for g in grads:
            dtype = torch.promote_types(dtype, g.dtype)
        pieces = [g.reshape(-1).to(dtype) * weight for g in grads]
        has_grad = [float(p.grad is not None) for p in parameters]
        pieces.append(torch.tensor([float(weight), *has_grad], dtype=dtype))
        flat = torch.cat([piece.to(self._device) for piece in pieces])
        dist.all_reduce(flat)
        n_values = flat.numel() - len(parameters) - 1
        total = max(float(flat[n_values]), 1.0)
        present = dict(zip(map(id, parameters), flat[n_values + 1 :].tolist(), strict=True))
        flat = flat[:n_values] / total
        start = 0
        for p, g in zip(dense, grads, strict=True):
            part = flat[start : start + g.numel()]
            start += g.numel()
            if not present[id(p)]:
                p.grad = None
            elif p.grad is None:
                p.grad = part.view_as(g).to(device=p.device, dtype=p.dtype).clone()
            else:
                p.grad.copy_(part.view_as(g))
        for p, is_sparse in zip(parameters, sparse, strict=True):
            if not is_sparse:
                continue
            if not present[id(p)]:
                p.grad = None
                continue
            if p.grad is None:  # this rank's piece was empty: an empty set of rows
                grad = torch.sparse_coo_tensor(
                    torch.zeros((1, 0), dtype=torch.int64, device=p.device),
                    torch.zeros((0, *p.shape[1:]), dtype=p.dtype, device=p.device),
                    p.shape,
                ).coalesce()
            else:
                grad = p.grad.coalesce() * weight
            dist.all_reduce(grad)  # gloo: in place, the union of the ranks' rows
            p.grad = (grad / total).coalesce()
        return total

    def agree_names(self, names):
        """The names one rank knows (None: none seen on this rank) on every rank."""
        import torch.distributed as dist

        gathered = [None] * self.size
        dist.all_gather_object(gathered, names)
        return next((n for n in gathered if n is not None), [])

    def sum_floats(self, values):
        """The sums over ranks of a list of floats."""
        return self._sum(list(values)).tolist()
