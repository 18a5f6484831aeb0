"""Vectors of a fixed list of texts, embedded once per model and kept on disk.

The search's failure descriptions (``query/concepts.py``) are some 700 short texts that only
change with the package: embedding them takes 1-2 s on two cores, which every ``otel-pgvector
similar`` would pay again, as each is a new process. They are embedded once and stored beside
the ONNX export in the embedding cache directory, under a name made of the model and a hash of
the texts, so another model or other texts never read them. A file is written whole under a
temporary name and renamed, as the export is: readers never see a partial one, and two
processes writing at once both leave a whole file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from .backends import EmbeddingBackend

logger = logging.getLogger(__name__)

# Vectors already read or embedded, by model, cache directory and texts: a search asks on every
# text query, and the file's name (a hash of some 50 KB of text) is worked out only on a miss.
_loaded: dict[tuple[str, Path, tuple[str, ...]], npt.NDArray[np.float32]] = {}
_loaded_lock = threading.Lock()


def fixed_text_vectors(backend: EmbeddingBackend, texts: Sequence[str], cache_dir: Path,
                       ) -> npt.NDArray[np.float32]:
    """The ``(len(texts), dimension)`` vectors of ``texts`` by ``backend``: from memory, from
    ``cache_dir``, or embedded now and stored there (a cache that cannot be written is skipped)."""
    key = (backend.model_name, cache_dir, tuple(texts))
    with _loaded_lock:
        vectors = _loaded.get(key)
        if vectors is None:
            digest = hashlib.sha256("\n".join([backend.model_name, *texts]).encode()).hexdigest()[:24]
            path = cache_dir / "texts" / f"{digest}.npy"
            vectors = _read(path, len(texts), backend.dimension)
            if vectors is None:
                vectors = backend.encode(list(texts))
                _write(path, vectors)
            _loaded[key] = vectors
        return vectors


def _read(path: Path, rows: int, dimension: int) -> npt.NDArray[np.float32] | None:
    try:
        vectors: npt.NDArray[np.float32] = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return vectors if vectors.shape == (rows, dimension) and vectors.dtype == np.float32 else None


def _write(path: Path, vectors: npt.NDArray[np.float32]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        os.replace(temporary, path)
    except OSError as error:
        logger.info("could not keep the vectors of fixed texts in %s: %s", path.parent, error)
