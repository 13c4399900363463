"""The dask fixtures ``X``, ``Xd`` and ``dl`` (tests/_dask_data.py) for the
dask tests of this folder; ``client`` is in tests/conftest.py."""

from .._dask_data import X, Xd, dl  # noqa: F401
