"""
=====================================================
Data-parallel DLA training with torch.distributed
=====================================================

Trains :class:`~skultr.ranking.DLARanker` on a simulated click log with several processes
(PyTorch's distributed data parallelism) and prints the held-out nDCG@10 and the learned
``propensity_``. Launch it with ``torchrun`` (gloo on CPU, NCCL on GPUs, one process per
GPU)::

    torchrun --nproc_per_node=2 examples/distributed/ddp_dla.py

or run it with plain ``python`` for the single-process fit of the same data and seed.

Every process simulates the same log from the same seed (each one holds the whole log) and
calls ``fit`` as in one process. While a process group is initialised, the engine gives each
process its piece of every minibatch, averages the gradients, and keeps the weights, the
optimizer state and ``history_`` identical on all processes; rank 0 reports and saves the
model, which pickles and loads on a single CPU machine like any other.

On a 2-core CPU, two gloo processes reach the single-process fit's quality (printed by
``python`` / by ``torchrun --nproc_per_node=2``)::

    nDCG@10 on held-out true labels: 0.9149 / 0.9141
    propensity_: [1. 0.927 0.729 0.512 0.467 0.319 0.174 0.16 0.134 0.089]
             / [1. 0.921 0.724 0.506 0.46  0.316 0.172 0.16 0.133 0.088]

Each process computes its piece of every minibatch of the single-process fit, so the two
differ only in how DLA's loss normalises a piece instead of the whole batch.
"""

import os
import pickle
import tempfile
import time

import numpy as np
import torch
import torch.distributed as dist

from skultr.datasets import make_click_log, make_ranking_dataset
from skultr.ranking import DLARanker

# torchrun sets WORLD_SIZE, RANK, LOCAL_RANK and the rendezvous address; without it this
# script trains in one process.
distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
if distributed:
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend=backend)
    # CPU processes share the machine's cores: one thread pool per core, not per process.
    if backend == "gloo":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.get_world_size()))
rank = dist.get_rank() if distributed else 0
n_processes = dist.get_world_size() if distributed else 1

X, y, qid = make_ranking_dataset(1000, random_state=0)
X_test, y_test, qid_test = make_ranking_dataset(300, random_state=1)
log = make_click_log(X, y, qid, n_sessions=20_000, score_noise=0.7, random_state=0)

ranker = DLARanker(hidden_layer_sizes=(32,), lr=0.1, max_epochs=10, random_state=0)
start = time.perf_counter()
ranker.fit(log.X, log.clicks, qid=log.qid, position=log.position)
seconds = time.perf_counter() - start

if rank == 0:
    print(f"{n_processes} process(es), fit in {seconds:.1f} s")
    print(f"nDCG@10 on held-out true labels: {ranker.score(X_test, y_test, qid=qid_test):.4f}")
    print("propensity_:", np.array2string(ranker.propensity_, precision=3))
    print("true examination:", np.array2string(log.propensity, precision=3))
    # The fitted estimator pickles as any other and loads without torch.distributed.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "dla.pkl")
        with open(path, "wb") as file:
            pickle.dump(ranker, file)
        with open(path, "rb") as file:
            loaded = pickle.load(file)
    assert np.array_equal(loaded.predict(X_test), ranker.predict(X_test))

if distributed:
    dist.destroy_process_group()
