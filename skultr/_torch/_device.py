"""Device resolution: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""

import re
import warnings

import torch

_CUDA_PATTERN = re.compile(r"^cuda(:\d+)?$")


def resolve_device(device):
    """Turn the ``device`` parameter of an estimator into a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device
        ``"auto"`` selects the first CUDA device when one is available and the CPU
        otherwise; under an NCCL process group (data-parallel training launched by
        ``torchrun``) it selects this process's device, ``cuda:LOCAL_RANK``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the string is not one of the accepted forms, or a CUDA device is asked for
        on a machine without one (or without that index).
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(
            "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; "
            f"got {device!r} of type {type(device).__name__}."
        )
    name = device.strip().lower()
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        from ._distributed import local_cuda_device

        return local_cuda_device() or torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    if _CUDA_PATTERN.match(name):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this "
                "machine; use device='auto' (CUDA when present, else CPU) or 'cpu'."
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible."
            )
        return torch.device(name)
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}.")


def loadable_device(saved):
    """Device to restore a pickled model on: the saved one when present, else the CPU.

    A model trained on CUDA and unpickled on a machine without CUDA (or with fewer
    devices) is moved to the CPU with a warning instead of failing.
    """
    saved = torch.device(saved)
    if saved.type != "cuda":
        return saved
    index = saved.index or 0
    if torch.cuda.is_available() and index < torch.cuda.device_count():
        return saved
    warnings.warn(
        f"This model was trained on {saved} which is not available here; it was "
        "loaded on the CPU instead.",
        UserWarning,
        stacklevel=3,
    )
    return torch.device("cpu")
