"""Ground-floor helpers that know no estimator: optional imports, dask arrays, devices,
numba kernels.

Everything here may be imported by every other sub-package; nothing here imports
any of them (as :mod:`sklearn.utils` for scikit-learn).
"""

from ._dask import (
    check_dask_array,
    compute_values,
    graph_key,
    import_dask_array,
    is_dask_array,
    iter_blocks,
    reduce_blocks,
)
from ._device import torch_device
from ._numba import in_forked_child, parallel_kernel, serial_kernel, vector_max
from ._optional import optional_import

__all__ = [
    "check_dask_array",
    "compute_values",
    "graph_key",
    "import_dask_array",
    "in_forked_child",
    "is_dask_array",
    "iter_blocks",
    "optional_import",
    "parallel_kernel",
    "reduce_blocks",
    "serial_kernel",
    "torch_device",
    "vector_max",
]
