"""The documentation stays true to the code: every setting documented, CI runs the README's command."""

from __future__ import annotations

import re
from pathlib import Path

from opentelemetry_exporter_pgvector.config import ENV_PREFIX, PgvectorSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _env_name(field: str) -> str:
    alias = PgvectorSettings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


def test_every_setting_has_a_row_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(OTEL_EXPORTER_PGVECTOR_[A-Z_]+)` \|", README, re.MULTILINE))
    expected = {_env_name(field) for field in PgvectorSettings.model_fields}
    assert documented == expected


def test_ci_runs_exactly_the_readme_test_command() -> None:
    section = README.split("**Run the tests**", 1)[1]
    readme_command = re.search(r"```sh\n(.+?)\n```", section, re.DOTALL)
    assert readme_command is not None
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_command.group(1).strip() in [line.strip() for line in ci_lines]
