"""Intent ranking: the grammar's scores combined with the sentence model's similarities.

Each intent gets ``a * grammar + b * model`` where ``model`` is the highest
cosine similarity between the request and the intent's exemplars
(:mod:`._exemplars`); ``unknown`` gets ``u + b * model`` (its exemplars are
out-of-scope requests). A softmax over these gives the confidence. The
weights were fitted on the development split only (``benchmarks/interpreter.py
--fit``); without the encoder the grammar's own weights apply.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from ..config import Config
from ._exemplars import EXEMPLARS
from ._redact import redact

__all__ = ["Encoder", "Ranker", "Weights", "default_encoder"]


class Encoder(Protocol):
    """A sentence encoder (see ``libhfagent.interpreter._embedding``)."""

    def encode(self, sentences: list[str]) -> npt.NDArray[np.float32]:
        """L2-normalised embeddings, one row per sentence."""
        ...


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
    """

    def __init__(
        self, encoder: Encoder | None, config: Config | None = None, weights: Weights | None = None
    ) -> None:
        self.encoder = encoder
        self.weights = weights or (COMBINED if encoder is not None else GRAMMAR_ONLY)
        self._matrix: Any = None
        self._owners: Any = None
        if encoder is not None:
            cache = Path(config.agent.cache_dir) / "interpreter" if config is not None else None
            matrix, owners = _exemplar_matrix(encoder, cache)
            self._matrix = matrix
            self._owners = np.asarray(owners)

    def similarities(self, request: str) -> dict[str, float]:
        """Per intent (``unknown`` included), the best cosine similarity to its exemplars."""
        if self.encoder is None:
            return {}
        vec = np.asarray(self.encoder.encode([redact(request)]), dtype=np.float32)[0]
        sims = self._matrix @ vec
        best = np.full(len(_INTENTS), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owners, sims)
        return {intent: float(best[i]) for i, intent in enumerate(_INTENTS)}

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
