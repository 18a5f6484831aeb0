"""DSNs whose password the regex redaction of DSNs showed (issue 11), and what is shown now."""

from __future__ import annotations

PIECES = ("s3c", "r3t")  # a password split by a ? # / @ or & is still secret piece by piece
# They connect to 127.0.0.1:1, where nothing listens, so they fail at once.
VALID_CASES = [
    ("postgresql://u:s3c?r3t@127.0.0.1:1/db", "postgresql://u:***@127.0.0.1:1/db"),
    ("postgresql://u:s3c#r3t@127.0.0.1:1/db", "postgresql://u:***@127.0.0.1:1/db"),
    ("postgresql://u@127.0.0.1:1/db?pass%77ord=s3cr3t", "postgresql://u@127.0.0.1:1/db?pass%77ord=***"),
    ("host=127.0.0.1 port=1 user=u password=s3c&r3t dbname=db",
     "host=127.0.0.1 port=1 user=u password=*** dbname=db"),
]
# libpq reads part of these passwords as the host, port or database: the settings refuse them.
MISREAD_CASES = [
    ("postgresql://u:s3c/r3t@127.0.0.1:1/db", "postgresql://***"),  # host u, port s3c, database r3t@...
    ("postgresql://u:s3c@r3t@127.0.0.1:1/db", "postgresql://***"),  # password s3c, host r3t@127.0.0.1
    ("postgresql://u:5/r3t@127.0.0.1:1/db", "postgresql://***"),  # host u, port 5, database r3t@...
]
ISSUE_CASES = VALID_CASES + MISREAD_CASES
