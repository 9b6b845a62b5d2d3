"""Any Hugging Face model (``modules.nlp.model``), loaded with transformers.

The model is a Hub id (``org/name``) or the absolute path of a local model
folder. It is loaded with transformers' own ``from_pretrained`` (and
``pipeline``), with the Hub cache and ``HF_HUB_OFFLINE`` honoured, and the
token read from ``modules.nlp.token_file``. Four uses:

* :class:`ZeroShotClassifier`: rank labels with an NLI model (the label
  names of its ``config.json`` include an ``entailment`` one);
* :class:`EntityTagger`: token classification (NER) into entities with
  offsets in the text;
* :class:`TextGenerator`: free-form text from a causal language model (the
  caller checks every number it writes against the data);
* :class:`HfEncoder`: sentence vectors from any encoder, with the same
  ``encode`` as the embedded :class:`~._embedding.Encoder`.

Importing this module imports neither torch nor transformers; making one of
these classes does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from libhfagent._errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from libhfagent.config import Config

__all__ = [
    "EntityTagger",
    "HfEncoder",
    "HfSource",
    "Ranked",
    "TaggedEntity",
    "TextGenerator",
    "ZeroShotClassifier",
    "hub_cache_dirs",
    "is_offline",
]

_TRUE = frozenset({"1", "on", "yes", "true"})
_LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError)


def is_offline(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for no network."""
    environ = os.environ if env is None else env
    return any(
        environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _default_hub_cache(env: Mapping[str, str]) -> Path:
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"])
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]) / "hub"
    xdg = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or "~").expanduser() / ".cache")
    return Path(xdg) / "huggingface" / "hub"


def hub_cache_dirs(
    config: Config | None = None, env: Mapping[str, str] | None = None
) -> tuple[Path, ...]:
    """The Hub caches looked in, in order.

    First the one the environment names (``HF_HUB_CACHE``, else
    ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``), then the agent's
    ``<agent.cache_dir>/huggingface/hub`` (where a service finds models put
    there for it).
    """
    environ = os.environ if env is None else env
    dirs = [_default_hub_cache(environ)]
    if config is not None:
        agent = Path(config.agent.cache_dir) / "huggingface" / "hub"
        if agent not in dirs:
            dirs.append(agent)
    return tuple(dirs)


def _paths(items: Iterable[str | os.PathLike[str]]) -> tuple[Path, ...]:
    return tuple(Path(item) for item in items)


def _in_cache(model: str, cache: Path) -> bool:
    return (cache / f"models--{model.replace('/', '--')}" / "snapshots").is_dir()


@attrs.frozen
class HfSource:
    """Where and how to load a model.

    Attributes:
        model: A Hub id (``org/name``) or an absolute local path.
        caches: The Hub caches looked in, in order (unused for a path).
        offline: Never use the network (``HF_HUB_OFFLINE``).
        token: The Hub token, or ``None``. Never shown in ``repr``.
    """

    model: str
    caches: tuple[Path, ...] = attrs.field(default=(), converter=_paths)
    offline: bool = False
    token: str | None = attrs.field(default=None, repr=False)

    @property
    def is_path(self) -> bool:
        """Whether :attr:`model` names a local folder rather than a Hub id."""
        return os.path.isabs(self.model) or self.model.startswith(("./", "../", "~"))

    @classmethod
    def from_config(
        cls,
        config: Config,
        model: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> HfSource:
        """The source of ``modules.nlp.model`` (or ``model``) under ``config``.

        Args:
            config: The configuration: the model, the token file, the cache.
            model: Another model id or path than the configured one.
            env: The environment (``HF_HUB_OFFLINE``, ``HF_HOME``…);
                ``os.environ`` when ``None``.

        Raises:
            ModelError: The token file exists but cannot be read.
        """
        environ = os.environ if env is None else env
        return cls(
            model=model or config.modules.nlp.model,
            caches=hub_cache_dirs(config, environ),
            offline=is_offline(environ),
            token=_read_token(config.modules.nlp.token_file),
        )

    def _where(self) -> str:
        if self.is_path:
            return str(Path(self.model).expanduser())
        return ", ".join(str(c) for c in self.caches) or "the default Hugging Face cache"

    def resolve(self) -> tuple[str, dict[str, Any]]:
        """The name and the keyword arguments to give ``from_pretrained``.

        Raises:
            ModelError: A local path is not a model folder, or (offline) the
                id is in none of the caches; the message names the model and
                the places looked at.
        """
        if self.is_path:
            folder = Path(self.model).expanduser()
            if not folder.is_dir():
                raise ModelError(
                    f"the model {self.model} is not available: no such directory; "
                    "set modules.nlp.model to a model folder (one saved with save_pretrained) "
                    "or a Hugging Face model id"
                )
            if not (folder / "config.json").is_file():
                raise ModelError(
                    f"{folder} is not a Hugging Face model: it has no config.json; "
                    "set modules.nlp.model to a folder saved with save_pretrained"
                )
            return str(folder), {"local_files_only": True}
        kwargs: dict[str, Any] = {"token": self.token}
        cached = [c for c in self.caches if _in_cache(self.model, c)]
        if cached:
            kwargs["cache_dir"] = str(cached[0])
        elif self.offline:
            raise ModelError(self._missing_offline())
        elif self.caches:
            kwargs["cache_dir"] = str(self.caches[0])
        kwargs["local_files_only"] = self.offline
        return self.model, kwargs

    def _missing_offline(self) -> str:
        return (
            f"the model {self.model} is not available offline (HF_HUB_OFFLINE is set): "
            f"it is in none of the Hugging Face caches looked at ({self._where()}); "
            f"download it on a machine with network (`hf download {self.model}`) into one "
            "of them, or set modules.nlp.model to a local model folder"
        )

    def load(self, loader: Callable[..., Any], what: str) -> Any:
        """``loader.from_pretrained`` for this source, with errors as ModelError.

        Args:
            loader: A transformers class (``AutoTokenizer``, ``AutoModel…``).
            what: What is being loaded, for the message (``model``,
                ``tokenizer``).

        Raises:
            ModelError: Naming the model, what failed and where it was looked for.
        """
        name, kwargs = self.resolve()
        try:
            return loader.from_pretrained(name, **kwargs)  # type: ignore[attr-defined]
        except _LOAD_ERRORS as exc:
            if self.offline and not self.is_path:
                raise ModelError(f"{self._missing_offline()} ({exc})") from exc
            raise ModelError(
                f"cannot load the {what} of {self.model} (looked in {self._where()}): {exc}"
            ) from exc


def _read_token(token_file: str | None) -> str | None:
    if token_file is None:
        return None
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"cannot read the Hugging Face token file {token_file} (modules.nlp.token_file): "
            f"{exc}; make it readable by the agent or remove the setting"
        ) from exc
    return token or None


def _quiet() -> Any:
    """Silence transformers' own logging while loading (warnings still count)."""
    from contextlib import contextmanager

    from transformers.utils import logging as hf_logging

    @contextmanager
    def quiet() -> Any:
        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity(40)
        try:
            yield
        finally:
            hf_logging.set_verbosity(level)

    return quiet()


def _pipeline(task: str, source: HfSource, model_class: str, **options: Any) -> Any:
    """A transformers pipeline over a model and tokenizer loaded from ``source``."""
    import transformers

    with _quiet():
        tokenizer = source.load(transformers.AutoTokenizer, "tokenizer")
        model = source.load(getattr(transformers, model_class), "model")
        model.eval()
        try:
            make: Any = transformers.pipeline  # its overloads want a literal task
            return model, make(task, model=model, tokenizer=tokenizer, device="cpu", **options)
        except _LOAD_ERRORS as exc:
            raise ModelError(f"{source.model} cannot serve {task}: {exc}") from exc


@attrs.frozen
class Ranked:
    """A label and its score (between 0 and 1)."""

    label: str
    score: float


@attrs.frozen
class TaggedEntity:
    """An entity a token-classification model found.

    Attributes:
        label: The entity group (``PER``, ``LOC``, a custom one…).
        text: The text it covers, ``request[start:end]``.
        start: Offset of its first character in the request.
        end: Offset just past its last character.
        score: The model's confidence, between 0 and 1.
    """

    label: str
    text: str
    start: int
    end: int
    score: float


class ZeroShotClassifier:
    """Ranks candidate labels for a text with an NLI model.

    Args:
        source: The model; its ``config.json`` must name an ``entailment`` label.

    Raises:
        ModelError: The model cannot be loaded or is not an NLI model.
    """

    def __init__(self, source: HfSource) -> None:
        self.source = source
        model, self._pipe = _pipeline(
            "zero-shot-classification", source, "AutoModelForSequenceClassification"
        )
        labels = [str(label).lower() for label in model.config.label2id]
        if not any(label.startswith("entail") for label in labels):
            raise ModelError(
                f"{source.model} is not an NLI model: its labels are {sorted(labels)}, none is "
                "'entailment'; zero-shot classification needs an NLI model (e.g. one fine-tuned "
                "on MNLI/XNLI)"
            )
        self._lock = threading.Lock()

    def rank(
        self,
        text: str,
        labels: Sequence[str],
        *,
        template: str = "This example is {}.",
        multi_label: bool = False,
    ) -> tuple[Ranked, ...]:
        """The labels, best first, with their scores.

        Args:
            text: The request.
            labels: The candidate labels (at least one).
            template: The hypothesis, ``{}`` standing for a label.
            multi_label: Score each label on its own (scores do not sum to 1).
        """
        if not labels:
            raise ValueError("rank() needs at least one label")
        with self._lock:
            out = self._pipe(
                text,
                candidate_labels=list(labels),
                hypothesis_template=template,
                multi_label=multi_label,
            )
        return tuple(
            Ranked(str(label), float(score))
            for label, score in zip(out["labels"], out["scores"], strict=True)
        )


class EntityTagger:
    """Finds entities with a token-classification (NER) model.

    Args:
        source: The model.

    Raises:
        ModelError: The model cannot be loaded.
    """

    def __init__(self, source: HfSource) -> None:
        self.source = source
        _, self._pipe = _pipeline(
            "token-classification",
            source,
            "AutoModelForTokenClassification",
            aggregation_strategy="simple",
        )
        self._lock = threading.Lock()

    def tag(self, text: str) -> tuple[TaggedEntity, ...]:
        """The entities of ``text``, in text order."""
        if not text.strip():
            return ()
        with self._lock:
            found = self._pipe(text)
        entities = []
        for item in found:
            start, end = item.get("start"), item.get("end")
            if start is None or end is None:
                continue
            entities.append(
                TaggedEntity(
                    label=str(item.get("entity_group") or item.get("entity")),
                    text=text[int(start) : int(end)],
                    start=int(start),
                    end=int(end),
                    score=float(item["score"]),
                )
            )
        return tuple(sorted(entities, key=lambda e: (e.start, e.end)))


class TextGenerator:
    """Free-form text from a causal language model (greedy, deterministic).

    The text is the model's own: callers check every number in it against
    their data before showing it.

    Args:
        source: The model.

    Raises:
        ModelError: The model cannot be loaded.
    """

    def __init__(self, source: HfSource) -> None:
        self.source = source
        _, self._pipe = _pipeline("text-generation", source, "AutoModelForCausalLM")
        tokenizer = self._pipe.tokenizer
        self._pad = tokenizer.pad_token_id
        if self._pad is None:
            self._pad = tokenizer.eos_token_id
        self._lock = threading.Lock()

    def generate(self, prompt: str, *, max_new_tokens: int = 80) -> str:
        """The continuation of ``prompt`` (without the prompt), stripped."""
        with self._lock:
            out = self._pipe(
                prompt,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                return_full_text=False,
                pad_token_id=self._pad,
            )
        return str(out[0]["generated_text"]).strip()


class HfEncoder:
    """Sentence vectors from any Hugging Face encoder: mean pooling, unit length.

    The same ``encode`` as the embedded encoder, for a configured model that
    is not the embedded one. Runs with torch.

    Args:
        source: The model.
        threads: torch intra-op threads for this process (``None``: leave as is).

    Raises:
        ModelError: The model cannot be loaded.
    """

    def __init__(self, source: HfSource, *, threads: int | None = 1) -> None:
        import torch
        import transformers

        if threads is not None:
            torch.set_num_threads(threads)
        self.source = source
        with _quiet():
            self._tokenizer = source.load(transformers.AutoTokenizer, "tokenizer")
            self._model = source.load(transformers.AutoModel, "model").eval()
        self.dimension = int(self._model.config.hidden_size)
        limit = getattr(self._model.config, "max_position_embeddings", 512)
        self._max = min(int(self._tokenizer.model_max_length), int(limit), 512)
        self._inputs = _inputs(self._model)

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The unit-length vectors of ``texts``, shape ``(n, hidden size)``."""
        import numpy as np
        import torch

        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not one string")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch = self._tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self._max,
            return_tensors="pt",
        )
        if "token_type_ids" not in self._inputs:
            batch.pop("token_type_ids", None)
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        vectors = torch.nn.functional.normalize(pooled, dim=1)
        result: npt.NDArray[np.float32] = vectors.float().numpy()
        return result


def _inputs(model: Any) -> frozenset[str]:
    import inspect

    return frozenset(inspect.signature(model.forward).parameters)
