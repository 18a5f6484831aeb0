"""The one-off export of a sentence-transformers model's transformer to ONNX, cached on disk.

The ONNX backend (:mod:`.backends`) runs the transformer without torch, but the graph it runs
has to be made from the weights once, with torch (about 15 s). :func:`export_onnx` does that
on first use, in a child process at low priority, and keeps the file in a cache directory;
every later call finds the file and returns. torch, transformers and onnxscript are imported
only in that child (by :func:`_export`), never in a process that uses the model.
``otel-pgvector model prepare`` runs the export ahead, before any application needs it.

The graph takes :data:`ONNX_INPUTS` and returns :data:`ONNX_OUTPUT` (the transformer's hidden
states, before pooling); the backend feeds and reads exactly those names.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import ENV_PREFIX
from ..errors import ConfigurationError, EmbeddingModelError
from .model import missing_dependency, model_name, require_model_dir

__all__ = ["EXPORT_NICENESS", "ONNX_INPUTS", "ONNX_OUTPUT", "export_onnx", "onnx_file"]

logger = logging.getLogger(__name__)

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OUTPUT = "last_hidden_state"

# Part of the export cache key: bump it when the exported graph changes (inputs, outputs,
# opset, exporter) so that files written by an older version of this module are not reused.
_EXPORT_FORMAT_VERSION = 1
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Largest absolute difference tolerated between torch and the freshly exported graph on
# real (unpadded) tokens; observed differences are ~1e-5, a broken export is off by ~1.
_EXPORT_TOLERANCE = 1e-3
_EXPORT_PURPOSE = "Exporting the embedding model to ONNX (done once, then cached)"
# Niceness of the export's child process (as the encoder's threads): it gets the CPU the
# application and the exporters leave.
EXPORT_NICENESS = 10


def _weights_fingerprint(model_path: Path) -> str:
    """Short hash of the weights file's name, size and mtime plus the export format version.

    Size and mtime instead of a content hash because hashing 90 MB on every start would cost
    more than the rest of loading; replacing the weights changes both, so a stale export is
    never reused.
    """
    for filename in _WEIGHT_FILES:
        weights = model_path / filename
        if weights.is_file():
            stat = weights.stat()
            key = f"{_EXPORT_FORMAT_VERSION}:{filename}:{stat.st_size}:{stat.st_mtime_ns}"
            return hashlib.sha256(key.encode()).hexdigest()[:12]
    raise FileNotFoundError(f"No model weights ({' or '.join(_WEIGHT_FILES)}) found in {model_path}")


def _is_within_site_packages(path: Path) -> bool:
    resolved = path.resolve()
    for key in ("purelib", "platlib"):
        site_packages = Path(sysconfig.get_paths()[key]).resolve()
        if resolved == site_packages or site_packages in resolved.parents:
            return True
    return False


@contextlib.contextmanager
def _quiet_export() -> Iterator[io.StringIO]:
    """Silence torch's and transformers' progress output while exporting, restoring it after.

    The one-time export runs inside CLI commands (``otel-pgvector demo``): the dynamo
    exporter prints its progress to stdout, transformers draws a weight-loading bar and
    torch warns about torchvision and about its own internals (a deprecated pytree check, axis
    names it merges) on stderr, all noise in the middle of a command's output. Those two
    internal warnings are matched by their text, so nothing else is hidden. What stdout
    received is returned for the debug log.
    """
    from transformers.utils import logging as transformers_logging

    torch_logger = logging.getLogger("torch")
    torch_level = torch_logger.level
    bars_were_enabled = transformers_logging.is_progress_bar_enabled()
    torch_logger.setLevel(logging.ERROR)
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as progress:
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                    category=FutureWarning)
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used",
                                    category=UserWarning)
            yield progress
    finally:
        torch_logger.setLevel(torch_level)
        if bars_were_enabled:
            transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def onnx_file(model_path: Path, cache_dir: Path) -> Path:
    """Where :func:`export_onnx` keeps the export of the model in ``model_path``, made or not."""
    require_model_dir(model_path)
    return cache_dir / f"{model_name(model_path)}-{_weights_fingerprint(model_path)}" / "model.onnx"


def export_onnx(model_path: Path, cache_dir: Path, niceness: int = EXPORT_NICENESS) -> Path:
    """Export the model's transformer (without pooling) to an fp32 ONNX file, once.

    The file goes to ``cache_dir/<model_name>-<fingerprint>/model.onnx`` (:func:`onnx_file`),
    where the fingerprint changes with the weights file, and is returned as is when it already
    exists, without importing torch.

    The export itself runs in a child process at lower priority (``niceness``, by default
    :data:`EXPORT_NICENESS`; ``otel-pgvector model prepare``, which nobody waits behind but its
    user, asks for 0): it takes about 15 s of CPU, most of it Python holding the GIL,
    and in inline mode it starts inside an application, at its first new span shape. In the
    application's process it held the GIL against the exporter's and the application's own
    threads (inline mode from an empty cache ran at a third of the speed of embeddings off);
    in a child it takes the CPU the others leave, and torch's memory (several hundred MB) is
    returned when the child exits, so torch is never imported into a process that uses the
    model.

    The child writes a temporary file in the target directory and renames it with
    ``os.replace``, so readers never see a partial file and two processes exporting at the
    same time both succeed (the last rename wins with an identical file). Before the rename the
    graph is run on a batch of a different shape than the one it was exported with and compared
    with torch, so a graph specialised to its example shapes is never cached. Writing into
    site-packages is refused: it is often read-only and is shared by every user of the
    interpreter.
    """
    target = onnx_file(model_path, cache_dir)
    if target.is_file():
        logger.debug("Using cached ONNX export %s", target)
        return target
    if _is_within_site_packages(cache_dir):
        raise ConfigurationError(
            f"Refusing to write the ONNX export into site-packages ({cache_dir}); choose another "
            f"cache directory ({ENV_PREFIX}EMBEDDING_CACHE_DIR)"
        )
    if not all(importlib.util.find_spec(package) for package in ("torch", "transformers")):
        raise missing_dependency("torch and transformers", _EXPORT_PURPOSE)
    if importlib.util.find_spec("onnxscript") is None:  # needed by torch.onnx.export(dynamo=True)
        raise missing_dependency("onnxscript", _EXPORT_PURPOSE)
    started = time.perf_counter()
    name = model_name(model_path)
    logger.info("Exporting %s to ONNX at %s (once; takes a few seconds)", name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # This package's own directory first, so that the child runs this very code.
    package_root = str(Path(__file__).resolve().parents[2])
    python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=python_path)
    child = f"import sys; from {__name__} import _export_main; sys.exit(_export_main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", child, str(niceness), str(model_path), str(target)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=False,
    )
    logger.debug("ONNX export process output: %s %s", done.stdout.strip(), done.stderr.strip())
    if done.returncode != 0 or not target.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise EmbeddingModelError(
            f"Exporting {name} to ONNX failed (exit status {done.returncode}): "
            f"{lines[-1] if lines else 'no error message'}"
        )
    logger.info("Exported %s to %s in %.1f s", name, target, time.perf_counter() - started)
    return target


def _export_main(arguments: list[str]) -> int:
    """The child process of :func:`export_onnx`: at niceness ``arguments[0]``, export the model in
    ``arguments[1]`` to ``arguments[2]``."""
    niceness, model_path, target = arguments
    with contextlib.suppress(OSError):
        os.nice(int(niceness))
    try:
        _export(Path(model_path), Path(target))
    except EmbeddingModelError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _export(model_path: Path, target: Path) -> None:
    """Export with torch (imported here, in the child only) and verify before renaming into place."""
    import torch
    from transformers import AutoModel

    target_dir = target.parent
    with _quiet_export():
        model = AutoModel.from_pretrained(str(model_path), local_files_only=True)
    model.eval()

    class _LastHiddenState(torch.nn.Module):
        """Expose the transformer as positional tensors in, last_hidden_state out."""

        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            output = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            hidden: torch.Tensor = output.last_hidden_state
            return hidden

    wrapper = _LastHiddenState(model).eval()
    vocab_size = int(model.config.vocab_size)
    example = _example_inputs(torch, batch=2, length=8, vocab_size=vocab_size)
    # A differently shaped batch, run through torch before exporting so the reference cannot be
    # affected by anything the exporter does to the module.
    check = _example_inputs(torch, batch=3, length=13, vocab_size=vocab_size)
    with torch.inference_mode():
        expected = wrapper(*check).numpy()
    batch_dim = torch.export.Dim("batch")
    sequence_dim = torch.export.Dim("sequence", max=int(model.config.max_position_embeddings))
    axes = {0: batch_dim, 1: sequence_dim}
    fd, temporary_name = tempfile.mkstemp(prefix="model.", suffix=".onnx.tmp", dir=target_dir)
    os.close(fd)
    temporary = Path(temporary_name)
    try:
        # The dynamo exporter records symbolic batch/sequence sizes; the legacy tracing exporter
        # is deprecated and bakes Python-level shape decisions into the graph.
        with _quiet_export() as progress:
            torch.onnx.export(
                wrapper,
                example,
                str(temporary),
                input_names=list(ONNX_INPUTS),
                output_names=[ONNX_OUTPUT],
                dynamic_shapes=(axes, axes, axes),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        logger.debug("torch.onnx.export: %s", progress.getvalue().strip())
        _verify_export(temporary, check, expected)
        # mkstemp creates the file owner-only; a cache directory may be shared (e.g. baked
        # into a container image by another user), and the file holds no secrets.
        temporary.chmod(0o644)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def _example_inputs(torch_module: Any, *, batch: int, length: int, vocab_size: int) -> tuple[Any, Any, Any]:
    """Token ids with padding in every row but the first, so the exported graph must honour the mask."""
    input_ids = torch_module.arange(1, batch * length + 1, dtype=torch_module.int64).reshape(batch, length)
    input_ids = input_ids % vocab_size
    attention_mask = torch_module.ones((batch, length), dtype=torch_module.int64)
    for row in range(1, batch):
        attention_mask[row, length - row * 2 :] = 0
    input_ids = input_ids * attention_mask
    return input_ids, attention_mask, torch_module.zeros_like(input_ids)


def _verify_export(onnx_path: Path, inputs: tuple[Any, Any, Any], expected: npt.NDArray[np.float32]) -> None:
    """Refuse to cache a graph whose hidden states differ from torch's on real tokens."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise missing_dependency("onnxruntime", "Verifying the ONNX export") from exc
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {name: tensor.numpy() for name, tensor in zip(ONNX_INPUTS, inputs, strict=True)}
    (actual,) = session.run([ONNX_OUTPUT], feeds)
    real_tokens = feeds["attention_mask"].astype(bool)
    difference = float(np.abs(actual - expected)[real_tokens].max())
    if difference > _EXPORT_TOLERANCE:
        raise EmbeddingModelError(
            f"ONNX export differs from torch by {difference:.3g} (tolerance {_EXPORT_TOLERANCE}); "
            "not caching it. Use the torch backend and report the torch/transformers versions."
        )
