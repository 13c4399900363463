"""Optional dependencies: imported on first use, with a message naming the extra."""

import importlib

# The extra of pyproject.toml that installs each optional top-level package.
_EXTRAS = {"dask": "dask", "distributed": "dask", "zarr": "dask", "gguf": "gguf"}


def optional_import(module, feature):
    """Import an optional dependency, or say which extra installs it.

    Parameters
    ----------
    module : str
        Module to import (``"dask.array"``, ``"zarr"``, ...).
    feature : str
        What needs it, for the error message.

    Returns
    -------
    module

    Raises
    ------
    ImportError
        Naming ``feature``, the missing package and the ``pip install`` line.

    Examples
    --------
    >>> optional_import("math", "Arithmetic").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        extra = _EXTRAS.get(package)
        how = (
            f'pip install "skfeatsparse[{extra}]"'
            if extra
            else f"pip install {package}"
        )
        raise ImportError(
            f"{feature} needs {package}, an optional dependency of skfeatsparse: {how}."
        ) from exc
