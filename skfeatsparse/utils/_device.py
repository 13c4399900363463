"""Torch devices, checked once for every part of the package."""


def torch_device(device):
    """``device`` as a ``torch.device`` that exists on this machine.

    Accepts what :class:`torch.device` accepts (``"cpu"``, ``"cuda"``,
    ``"cuda:1"``, ``"mps"``, a ``torch.device``). Raises ValueError for a
    malformed name or a device this machine does not have.
    """
    import torch

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use e.g. 'cpu', 'cuda' or 'mps'."
        ) from exc
    if device.type == "cuda":
        available = torch.cuda.is_available() and (
            device.index is None or device.index < torch.cuda.device_count()
        )
    elif device.type == "mps":
        available = torch.backends.mps.is_available()
    else:
        available = True
    if not available:
        names = ", ".join(repr(name) for name in available_devices())
        raise ValueError(
            f"device={str(device)!r} is not available on this machine "
            f"(available devices: {names}); use one of those, e.g. device='cpu'."
        )
    return device


def available_devices():
    """Names of the torch devices this machine has: ``"cpu"``, ``"cuda:0"``, ..."""
    import torch

    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names
