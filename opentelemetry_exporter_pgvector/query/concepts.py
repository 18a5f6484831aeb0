"""Which well-known failures a question is about, recognized by meaning rather than by words.

A shape whose failure the glossary knows starts with that failure's meaning
(``convert/glossary.py``): ``deadlock (two transactions each wait ...) | ...``. People asking
rarely use the failure's name: they write "two writers blocked each other on the same rows".
The model puts such a question near several failures' shapes at once (a deadlock and a lock
wait timeout share most words), so vectors alone rank near neighbours in the wrong order. Here
the question is compared with each failure's meaning and with the ways people describe it (its
``symptoms``), all embedded once per process by the same model, and each failure gets a weight,
scaled down to nothing for a question about no known failure. A hybrid search ranks the shapes
of the weighted failures first, by that weight (``query/similar.py``).

Two readings of the descriptions vote. The nearest ones: a failure is as likely as its closest
descriptions are similar to the question (local evidence: a question worded like one way of
telling it). A linear classifier fitted to all of them (a ridge regression onto the failures,
solved in closed form in milliseconds): which directions of the embedding separate one failure
from the others (global evidence: a question that shares no description's words but leans the
way a failure's descriptions lean). The two distributions are combined by their geometric
mean, renormalized (a product of experts): a failure both readings find likely wins, one that
only one of them favours is hedged, and the search ranks the shapes of both. On the tuning
queries the nearest descriptions alone read 0.975 of the failures right, the linear classifier
alone 0.978, both 0.988 (docs/embeddings.md).

The constants were chosen on the tuning queries of ``tests/search_corpus.py``
(``benchmarks/search_quality.py``; docs/embeddings.md tells how).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ..convert.glossary import GLOSSARY, NO_FAILURE_DESCRIPTIONS
from ..embedding.fixed_texts import fixed_text_vectors

if TYPE_CHECKING:
    from ..embedding.backends import EmbeddingBackend

# A failure's similarity to a question is the mean cosine similarity of its AGREEING most
# similar descriptions, so that one description close by accident (a lock wait timeout's
# "writers" in a question about a deadlock) does not decide alone.
AGREEING = 6
# A failure the question names in an error's own words (the glossary's patterns match it) is
# this much more similar: evidence, not a verdict, as prose says "timed out" of many failures.
NAMED_EVIDENCE = 0.1
# The nearest descriptions' softmax temperature: a failure 0.03 more similar is e (2.7) times
# as likely.
TEMPERATURE = 0.03
# The linear classifier's ridge penalty (larger: smoother, nearer the descriptions' centroids)
# and its softmax temperature over scores that are near 1 for the failure described and near 0
# for the others.
RIDGE_PENALTY = 0.3
LINEAR_TEMPERATURE = 0.1
# A question at most FLOOR similar to every failure is about none of them; one at least FULL
# similar to one is surely about a failure; in between, the weights are scaled down linearly.
# Long questions are less similar to short descriptions, hence the low bounds.
FLOOR = 0.25
FULL = 0.45
# Failures weighted less than this are left out of the search.
MIN_WEIGHT = 0.05
# What questions about no failure weigh as, beside the failures: "slow checkout requests" is not
# read as being about some failure for want of a better answer.
NO_FAILURE = "no failure"

_FAILURES = (*(gloss.meaning for gloss in GLOSSARY), NO_FAILURE)
# The index in _FAILURES of each description's failure.
_OWNERS = np.array([*(owner for owner, gloss in enumerate(GLOSSARY)
                      for _ in (gloss.meaning, *gloss.symptoms)),
                    *(len(GLOSSARY) for _ in NO_FAILURE_DESCRIPTIONS)])
_DESCRIPTIONS = (*(text for gloss in GLOSSARY for text in (gloss.meaning, *gloss.symptoms)),
                 *NO_FAILURE_DESCRIPTIONS)


class ConceptWeight(NamedTuple):
    """A failure's ``meaning`` (as shape texts start with it) and how much a question is about it."""

    meaning: str
    weight: float


class _Descriptions(NamedTuple):
    """The descriptions' vectors by one model, and the linear classifier fitted to them."""

    vectors: npt.NDArray[np.float32]
    classifier: npt.NDArray[np.float64]  # (dimension + 1, failures): a question's [vector, 1] -> scores


# Per model and cache directory: fitted on the first search, reused by every later one.
_described_by_model: dict[tuple[str, Path], _Descriptions] = {}
_described_lock = threading.Lock()


def failure_weights(backend: EmbeddingBackend, cache_dir: Path, query_vector: Any, named: str | None = None,
                    ) -> tuple[ConceptWeight, ...]:
    """The failures a question is about, most likely first, from its vector ``query_vector`` (of
    ``backend``'s model) and the meaning of the failure its words ``named``, if any.

    The descriptions (every gloss's meaning and symptoms, and the no-failure ones: some 700
    texts) are embedded on the first search with a model and kept in ``cache_dir``.
    """
    descriptions = _described(backend, cache_dir)
    similarities = descriptions.vectors @ query_vector
    nearest = np.array([np.sort(similarities[owner == _OWNERS])[-AGREEING:].mean()
                        for owner in range(len(_FAILURES))])
    if named is not None:
        nearest[_FAILURES.index(named)] += NAMED_EVIDENCE
    top = float(nearest.max())
    confidence = min(1.0, max(0.0, (top - FLOOR) / (FULL - FLOOR)))
    if confidence == 0:
        return ()
    linear = np.append(query_vector, 1.0) @ descriptions.classifier
    likelihood = np.exp(_log_softmax((_log_softmax(nearest / TEMPERATURE)
                                      + _log_softmax(linear / LINEAR_TEMPERATURE)) / 2))
    weights = (ConceptWeight(meaning, confidence * float(probability))
               for meaning, probability in zip(_FAILURES, likelihood, strict=True) if meaning != NO_FAILURE)
    kept = (weight for weight in weights if weight.weight >= MIN_WEIGHT)
    return tuple(sorted(kept, key=lambda weight: -weight.weight))


def _described(backend: EmbeddingBackend, cache_dir: Path) -> _Descriptions:
    """The descriptions by ``backend``'s model, with the classifier fitted once per process."""
    key = (backend.model_name, cache_dir)
    with _described_lock:
        described = _described_by_model.get(key)
        if described is None:
            vectors = fixed_text_vectors(backend, _DESCRIPTIONS, cache_dir)
            inputs = np.hstack([vectors, np.ones((len(vectors), 1), dtype=vectors.dtype)]).astype(np.float64)
            targets = np.eye(len(_FAILURES))[_OWNERS]
            penalty = RIDGE_PENALTY * np.eye(inputs.shape[1])
            classifier = np.linalg.solve(inputs.T @ inputs + penalty, inputs.T @ targets)
            described = _described_by_model[key] = _Descriptions(vectors, classifier)
        return described


def _log_softmax(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = scores - scores.max()
    logs: npt.NDArray[np.float64] = shifted - np.log(np.exp(shifted).sum())
    return logs
