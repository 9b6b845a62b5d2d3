"""Intent ranking: the grammar's scores combined with the sentence model's similarities.

Each intent gets ``a * grammar + b * model`` where ``model`` is the highest
cosine similarity between the request and the intent's exemplars
(:mod:`._exemplars`); ``unknown`` gets ``u + b * model`` (its exemplars are
out-of-scope requests). With an NLI model instead of an encoder, ``model``
is the probability that the request entails "This request is about
<the intent's description>" (:data:`DESCRIPTIONS`), and ``unknown``'s is one
minus the best of them. A softmax over these gives the confidence. The
weights were fitted on the development split only (``benchmarks/interpreter.py
--fit``); without the encoder the grammar's own weights apply.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from ..config import Config
from ._exemplars import EXEMPLARS
from ._redact import redact

__all__ = [
    "DESCRIPTIONS",
    "HYPOTHESIS",
    "Encoder",
    "LabelRanker",
    "Ranker",
    "Weights",
    "default_encoder",
]


class Encoder(Protocol):
    """A sentence encoder (see ``libhfagent.interpreter._embedding``)."""

    def encode(self, sentences: list[str]) -> npt.NDArray[np.float32]:
        """L2-normalised embeddings, one row per sentence."""
        ...


class _Scored(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...


class LabelRanker(Protocol):
    """A zero-shot classifier (see ``libhfagent.interpreter._hf.ZeroShotClassifier``)."""

    def rank(
        self, text: str, labels: Sequence[str], *, template: str = ..., multi_label: bool = ...
    ) -> Sequence[_Scored]:
        """The labels with their scores in [0, 1]."""
        ...


#: What each intent is about, for the NLI model's hypotheses.
DESCRIPTIONS: dict[str, str] = {
    "logs.summarize": "summarising or analysing logs",
    "security.audit": "failed logins, intrusion attempts or a security audit",
    "system.status": "the health of the machine: CPU, memory, load or uptime",
    "disk.cleanup": "freeing disk space by deleting old logs, temporary files or caches",
    "disk.usage": "disk usage and free space",
    "files.find": "finding large or old files",
    "disk.health": "whether a disk is failing",
    "service.restart": "restarting a service",
    "service.start": "starting a service",
    "service.stop": "stopping a service",
    "service.status": "the state of a service",
    "process.top": "the processes using the most CPU or memory",
    "packages.update": "package updates",
    "backup.sync": "backing up or copying a directory elsewhere",
    "schedule.add": "scheduling a recurring task",
    "network.listening": "open network ports and listening processes",
    "resources.optimize": "right-sizing the machine's resources",
}

#: The NLI hypothesis, ``{}`` standing for a description.
HYPOTHESIS = "This request is about {}."


@attrs.frozen
class Weights:
    """The combination's weights.

    Attributes:
        grammar: ``a``, the weight of the grammar's score.
        model: ``b``, the weight of the best exemplar similarity.
        unknown: ``u``, the score ``unknown`` starts from.
        cap: The highest confidence this combination may give.
    """

    grammar: float
    model: float
    unknown: float
    cap: float = 1.0


#: Fitted on dev.jsonl (``benchmarks/interpreter.py --fit``).
COMBINED = Weights(grammar=16.0, model=6.0, unknown=8.0)
#: The grammar alone (no encoder): a lower ceiling says the answer is less sure.
GRAMMAR_ONLY = Weights(grammar=16.0, model=0.0, unknown=7.0, cap=0.9)
#: The model alone (the ablation).
MODEL_ONLY = Weights(grammar=0.0, model=40.0, unknown=2.0)

_INTENTS = tuple(EXEMPLARS)


def default_encoder(config: Config) -> Encoder | None:
    """The embedded model when it has been prepared and the configuration enables it."""
    if not config.modules.nlp.enabled:
        return None
    try:
        module = importlib.import_module("libhfagent.interpreter._embedding")
    except ImportError:
        return None
    encoder: Encoder | None = module.load_encoder(config)
    return encoder


def _exemplar_matrix(encoder: Encoder, cache_dir: Path | None) -> tuple[Any, list[int]]:
    sentences: list[str] = []
    owners: list[int] = []
    for i, intent in enumerate(_INTENTS):
        for s in EXEMPLARS[intent]:
            sentences.append(s)
            owners.append(i)
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16]
    prepared = getattr(encoder, "prepared", None)
    model_id = ""
    if prepared is not None:
        files = {name: dict(info) for name, info in prepared.files.items()}
        key = json.dumps([files, str(getattr(encoder, "variant", ""))], sort_keys=True)
        model_id = hashlib.sha256(key.encode()).hexdigest()
    path: Path | None = None
    if cache_dir is not None and model_id:
        path = cache_dir / f"exemplars-{model_id[:16]}-{digest}.npy"
        try:
            matrix = np.load(path)
            if matrix.shape[0] == len(sentences):
                return matrix, owners
        except (OSError, ValueError):
            pass
    matrix = np.asarray(encoder.encode(sentences), dtype=np.float32)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, matrix)
            tmp.replace(path)
        except OSError:
            pass
    return matrix, owners


class Ranker:
    """Ranks the intents of a request.

    Args:
        encoder: The sentence encoder, or ``None`` for the grammar alone.
        config: For the cache directory of the exemplar embeddings.
        weights: The combination's weights (default: fitted ones).
        classifier: An NLI zero-shot classifier used instead of the encoder.
    """

    def __init__(
        self,
        encoder: Encoder | None,
        config: Config | None = None,
        weights: Weights | None = None,
        *,
        classifier: LabelRanker | None = None,
    ) -> None:
        if encoder is not None and classifier is not None:
            raise ValueError("Ranker takes an encoder or a classifier, not both")
        self.encoder = encoder
        self.classifier = classifier
        with_model = encoder is not None or classifier is not None
        self.weights = weights or (COMBINED if with_model else GRAMMAR_ONLY)
        self._matrix: Any = None
        self._owners: Any = None
        if encoder is not None:
            cache = Path(config.agent.cache_dir) / "interpreter" if config is not None else None
            matrix, owners = _exemplar_matrix(encoder, cache)
            self._matrix = matrix
            self._owners = np.asarray(owners)

    def similarities(self, request: str) -> dict[str, float]:
        """Per intent (``unknown`` included), the model's score of the request.

        With an encoder: the best cosine similarity to the intent's exemplars;
        with a classifier: the entailment probability of its hypothesis.
        """
        if self.classifier is not None:
            return self._entailments(request)
        if self.encoder is None:
            return {}
        vec = np.asarray(self.encoder.encode([redact(request)]), dtype=np.float32)[0]
        sims = self._matrix @ vec
        best = np.full(len(_INTENTS), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owners, sims)
        return {intent: float(best[i]) for i, intent in enumerate(_INTENTS)}

    def _entailments(self, request: str) -> dict[str, float]:
        if self.classifier is None:
            return {}
        by_label = {description: intent for intent, description in DESCRIPTIONS.items()}
        ranked = self.classifier.rank(
            redact(request), list(by_label), template=HYPOTHESIS, multi_label=True
        )
        scores = {by_label[r.label]: float(r.score) for r in ranked}
        scores["unknown"] = 1.0 - max(scores.values(), default=0.0)
        return scores

    def rank(
        self,
        request: str,
        grammar: dict[str, float],
        sims: dict[str, float] | None = None,
        weights: Weights | None = None,
    ) -> tuple[str, float]:
        """The best intent and its confidence in [0, 1].

        Args:
            request: The request as typed (redacted before it reaches the model).
            grammar: The grammar's scores per intent.
            sims: Precomputed similarities (the benchmark reuses them), else computed.
            weights: Override the combination's weights.
        """
        w = weights or self.weights
        if sims is None and w.model:
            sims = self.similarities(request)
        sims = sims or {}
        z: dict[str, float] = {}
        for intent in _INTENTS:
            if intent == "unknown":
                z[intent] = w.unknown + w.model * sims.get(intent, 0.0)
            else:
                z[intent] = w.grammar * grammar.get(intent, 0.0) + w.model * sims.get(intent, 0.0)
        top = max(z.values())
        total = sum(math.exp(v - top) for v in z.values())
        best = max(z, key=lambda k: z[k])
        return best, min(1.0 / total, w.cap)
