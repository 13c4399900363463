"""Rows of activations on disk: ``.npy`` files and zarr arrays, read and written.

Storage primitives for the activation cache (``_cache.py``): a reader of row
ranges of a ``.npy`` file that pickles as its path, a writer of row blocks into
a preallocated ``.npy`` file, and a zarr writer that writes each chunk once.
"""

import os

import numpy as np


def layer_file(layer, storage="npy"):
    """The file of a layer's rows (an int) or of a site's (a module path)."""
    if isinstance(layer, str):
        return f"site_{layer}.{storage}"
    return f"layer_{layer:03d}.{storage}"


class NpyRows:
    """A 2-D ``.npy`` file whose rows are read on demand, with plain reads.

    Array-like enough for ``dask.array.from_array`` (shape, dtype, ndim,
    slicing), and it pickles as its path, not its data: a distributed
    scheduler ships a few bytes and each worker reads its own blocks.
    """

    def __init__(self, path):
        data = np.load(path, mmap_mode="r")
        self.path = str(path)
        self.offset, self.shape, self.dtype = data.offset, data.shape, data.dtype
        self.ndim = data.ndim
        del data

    def read(self, start, stop):
        """Rows ``start:stop`` as an in-memory array."""
        # Plain reads, not a memmap: mapped pages would count towards the
        # process's memory until the whole file had been read once.
        width = self.shape[1]
        n = max(0, min(stop, self.shape[0]) - start)
        with open(self.path, "rb") as f:
            f.seek(self.offset + int(start) * width * self.dtype.itemsize)
            return np.fromfile(f, dtype=self.dtype, count=n * width).reshape(n, width)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        rows, cols = key[0], key[1:]
        if isinstance(rows, slice) and rows.step in (None, 1):
            start, stop, _ = rows.indices(self.shape[0])
            return self.read(start, max(start, stop))[(slice(None),) + cols]
        return np.array(np.load(self.path, mmap_mode="r")[key])

    def __dask_tokenize__(self):
        stat = os.stat(self.path)
        return ("NpyRows", self.path, stat.st_mtime_ns, stat.st_size)


class NpyWriter:
    """A preallocated ``.npy`` file written by row blocks (no array in memory)."""

    def __init__(self, path, shape, dtype):
        header = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        self._offset = header.offset
        self._dtype = np.dtype(dtype)
        self._row_bytes = self._dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        del header
        self._file = open(path, "r+b")

    def write(self, row, block):
        self._file.seek(self._offset + row * self._row_bytes)
        self._file.write(np.ascontiguousarray(block, dtype=self._dtype).tobytes())

    def close(self):
        self._file.close()


class ZarrWriter:
    """Zarr arrays appended to in row order, each chunk written once, whole.

    Rows are buffered until they fill a chunk (no read-modify-write of
    compressed chunks): memory is less than one chunk per layer.
    """

    def __init__(self, zarr, path, layers, n_rows, widths, chunk_rows):
        self.arrays = {
            n: zarr.create(
                shape=(n_rows, widths[n]),
                chunks=(chunk_rows, widths[n]),
                dtype="float32",
                store=str(path / layer_file(n, "zarr")),
                overwrite=True,
            )
            for n in layers
        }
        self.chunk_rows, self.n_rows = chunk_rows, n_rows
        self.pending = {n: [] for n in layers}  # rows from row `done` on
        self.done = self.end = 0

    def __call__(self, rows):
        """Append ``{layer: rows}``; write every chunk now complete."""
        for n, block in rows.items():
            self.pending[n].append(block)
        self.end += len(next(iter(rows.values())))
        if self.end == self.n_rows:
            flush = self.end
        else:
            flush = self.end - (self.end - self.done) % self.chunk_rows
        if flush > self.done:
            for n, arr in self.arrays.items():
                block = np.concatenate(self.pending[n])
                arr[self.done : flush] = block[: flush - self.done]
                self.pending[n] = [block[flush - self.done :]]
            self.done = flush
