"""The Interpreter: a request in French or English → an intent, its entities and a plan."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .._errors import ModelError
from .._i18n import translator
from ..config import Config
from ..config._model import DEFAULT_MODEL
from ._cron import find_schedule
from ._exemplars import EXEMPLARS
from ._grammar import (
    LEXICON_WORDS,
    cleanup_method,
    entities_for,
    features,
    packages_mode,
    split_task,
)
from ._ranker import Encoder, LabelRanker, Ranker, Weights, default_encoder
from ._services import ServiceCatalog, installed_units
from ._text import Lexicon, detect_language, fold, fold_with_map, known_words
from ._types import Intent, Plan, Step

__all__ = ["CONFIDENCE_THRESHOLD", "Interpreter"]

#: Below this confidence a request is ``unknown``: the agent never guesses.
CONFIDENCE_THRESHOLD = 0.5

#: A plan that changes the machine needs at least this confidence.
CHANGE_THRESHOLD = 0.6

#: Intents whose plan only reads the machine (packages.update: only in ``list`` mode).
READ_ONLY_INTENTS = frozenset(
    {
        "logs.summarize",
        "security.audit",
        "system.status",
        "disk.usage",
        "files.find",
        "disk.health",
        "process.top",
        "network.listening",
        "service.status",
        "resources.optimize",
    }
)

_DEFAULT = object()

# Requests that always stay out of scope, whatever their words score: shell commands and
# requests to wipe everything.
_DANGEROUS = re.compile(
    r"(?:\brm\s+-\w*[rf]|\bmkfs\b|\bdd\s+if=|:\(\)\s*\{|\bchmod\s+-r\s+777\s+/|>\s*/dev/sd|"
    r"\b(?:supprime|efface|delete|remove|wipe|erase|vide|detruis|destroy|formate|format)\w*\s+"
    r"(?:tout|toutes?|everything|all|the whole|tout le (?:disque|serveur|systeme)|"
    r"le disque|the disk|the drive|le serveur|the server|le systeme|the system|la machine|"
    r"the machine)(?:\s|$|[.!?])"
    r"|\b(?:tout|everything)\s+(?:supprimer|effacer|delete|remove|wipe|erase)\b)"
)
_VAGUE_CLEANUP = re.compile(
    r"^(?:\W|fais|fait|faire|le|du|un|peu|de|menage|clean|up|please|stp|svp)*$"
)


class Interpreter:
    """Understands administration requests and turns them into plans.

    The model that ranks intents with the grammar follows ``modules.nlp``:

    * the default ``modules.nlp.model`` is the embedded sentence model,
      prepared by ``hf-agent models prepare`` (the grammar alone while it is
      not, or when ``modules.nlp.enabled`` is false);
    * another model id or folder is loaded with transformers: a sentence
      encoder (no task head) is compared with the intents' exemplars like
      the embedded model, and an NLI model (a sequence classifier with an
      ``entailment`` label) scores the hypothesis "This request is about
      <the intent's description>" for each intent.

    A model configured explicitly that cannot be loaded (not in the Hub
    caches with ``HF_HUB_OFFLINE``, not a model folder, a model of another
    kind) is an error at construction: the administrator asked for that
    model, so the agent does not silently fall back to the grammar.

    Args:
        config: The agent configuration (default language, time zone, model).
        clock: Returns the current time, timezone-aware; defaults to the system clock.
        encoder: The sentence encoder that ranks intents with the grammar,
            instead of the configured model; ``None`` for the grammar alone.
        units: The machine's service units (for service names); by default
            the unit directories are read once.
        weights: How the grammar and the model are combined (default: the
            weights fitted on the development set).

    Raises:
        ModelError: The configured model cannot be loaded or cannot rank
            intents; the message names the model and where it was looked for.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        encoder: Encoder | object | None = _DEFAULT,
        units: Iterable[str] | object | None = _DEFAULT,
        weights: Weights | None = None,
    ) -> None:
        self._config = config
        self._tz = ZoneInfo(config.agent.timezone)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        if units is _DEFAULT:
            found = installed_units()
            self._catalog = ServiceCatalog(found or None)
        else:
            self._catalog = ServiceCatalog(units)  # type: ignore[arg-type]
        classifier: LabelRanker | None = None
        if encoder is _DEFAULT:
            encoder, classifier = _configured_model(config)
        words: set[str] = set(LEXICON_WORDS) | set(self._catalog.words)
        for sentences in EXEMPLARS.values():
            for sentence in sentences:
                words.update(re.findall(r"[a-z]+", fold(sentence)))
        self._lexicon = Lexicon(words, known=known_words())
        self._ranker = Ranker(
            encoder,  # type: ignore[arg-type]
            config,
            weights,
            classifier=classifier,
        )

    @property
    def uses_model(self) -> bool:
        """Whether a model ranks intents (otherwise the grammar alone does)."""
        return self._ranker.encoder is not None or self._ranker.classifier is not None

    @property
    def ranking(self) -> Literal["grammar", "encoder", "zero-shot"]:
        """How intents are ranked: the grammar alone, with a sentence encoder, or an NLI model."""
        if self._ranker.classifier is not None:
            return "zero-shot"
        return "encoder" if self._ranker.encoder is not None else "grammar"

    def interpret(self, request: str) -> Intent:
        """Find the intent and entities of a request.

        Returns:
            The intent; ``unknown`` (with a helpful ``message``) when the request
            is out of scope, not understood well enough, or would change the
            machine without saying what to act on.
        """
        lang: Literal["fr", "en"] = detect_language(request, self._config.agent.language)
        text = self._lexicon.correct(fold(request))
        if not re.search(r"[a-z]", text) or _DANGEROUS.search(text):
            return self._unknown(request, lang, 0.0)
        feats = features(text, self._catalog)
        best, confidence = self._ranker.rank(request, feats.scores)
        if best == "unknown" or confidence < CONFIDENCE_THRESHOLD:
            return self._unknown(request, lang, confidence)
        now = self._clock().astimezone(self._tz)
        entities: dict[str, Any]
        if best == "schedule.add":
            entities = self._schedule(request, text)
            if not entities:
                return self._clarify(request, lang, best, confidence)
        else:
            entities = entities_for(best, text, request, now, self._catalog, feats)
        if best not in READ_ONLY_INTENTS and not self._actionable(best, text, entities):
            return self._clarify(request, lang, best, confidence)
        changes = best not in READ_ONLY_INTENTS and best != "packages.update"
        if changes and confidence < CHANGE_THRESHOLD:
            return self._clarify(request, lang, best, confidence)
        return Intent(request, lang, best, confidence, entities)

    def _actionable(self, intent: str, text: str, entities: dict[str, Any]) -> bool:
        """Whether a changing request says what to act on."""
        if intent.startswith("service."):
            return "service" in entities
        if intent == "backup.sync":
            return "path" in entities and "destination" in entities
        if intent == "disk.cleanup":
            if "path" in entities or "paths" in entities:
                return True
            feats = features(text, self._catalog)
            return feats.cleanup_object and not _VAGUE_CLEANUP.match(text)
        return True

    def _schedule(self, request: str, text: str) -> dict[str, Any]:
        schedule = find_schedule(text)
        folded, origin = fold_with_map(request)
        spans = find_schedule(folded)
        if schedule is None or spans is None:
            return {}
        task = split_task(request, folded, origin, spans.spans)
        if not task:
            return {}
        nested = self.interpret(task)
        if nested.intent in ("unknown", "schedule.add"):
            return {}
        return {"cron": schedule.cron, "task": task}

    def _unknown(self, request: str, lang: Literal["fr", "en"], confidence: float) -> Intent:
        _ = translator(lang).gettext
        message = " ".join(
            (
                _(
                    'I did not understand this request. I can summarise logs ("summarise the '
                    "nginx 404 errors of the last 24 hours\") and report the machine's health "
                    '("how is this machine doing?"). Name the logs and the period, or rephrase.'
                ),
                _(
                    "I can also show disk usage, find large or old files, check the disks' "
                    "health, free space (old logs, temporary files, caches), show, start, stop "
                    "or restart a service, list the heaviest processes and the listening ports, "
                    "list or install updates, back up a directory, schedule a recurring task "
                    "and give right-sizing advice."
                ),
            )
        )
        return Intent(request, lang, "unknown", confidence, {}, message)

    def _clarify(
        self, request: str, lang: Literal["fr", "en"], guess: str, confidence: float
    ) -> Intent:
        _ = translator(lang).gettext
        message = _(
            "This request would change the machine, but it does not say precisely enough what "
            'to act on, so I will not guess. Name the target: the directory ("delete the logs '
            'older than 30 days in /var/log"), the service ("restart nginx"), the source and '
            'destination of a copy, or the task and the schedule ("every sunday at 3am restart '
            'nginx").'
        )
        return Intent(
            request, lang, "unknown", min(confidence, CONFIDENCE_THRESHOLD - 0.01), {}, message
        )

    def plan(self, intent: Intent) -> Plan:
        """The steps that carry out an intent (no policy decision yet: see the Executor)."""
        return Plan(intent, tuple(plan_steps(intent)))


_TASK_HEADS = (
    "ForTokenClassification",
    "ForCausalLM",
    "LMHeadModel",
    "ForConditionalGeneration",
    "ForQuestionAnswering",
    "ForMultipleChoice",
)


def _configured_model(config: Config) -> tuple[Encoder | None, LabelRanker | None]:
    """The encoder or the NLI classifier ``modules.nlp`` asks for (or neither).

    Raises:
        ModelError: A configured model other than the embedded one cannot be
            loaded, or is neither a sentence encoder nor an NLI model.
    """
    nlp = config.modules.nlp
    if not nlp.enabled:
        return None, None
    if nlp.model == DEFAULT_MODEL:
        return default_encoder(config), None
    from . import _hf  # imports torch and transformers only for such a model

    source = _hf.HfSource.from_config(config)
    try:
        import transformers
    except ImportError as exc:
        raise ModelError(
            f"modules.nlp.model is {nlp.model}, which needs transformers and torch: "
            f"{exc}; install them in the agent's environment, or set modules.nlp.model "
            f"back to {DEFAULT_MODEL}"
        ) from exc
    model_config = source.load(transformers.AutoConfig, "configuration")
    labels = [str(label).lower() for label in (getattr(model_config, "label2id", None) or {})]
    architectures = [str(a) for a in (getattr(model_config, "architectures", None) or ())]
    if any(label.startswith("entail") for label in labels) or any(
        a.endswith("ForSequenceClassification") for a in architectures
    ):
        # ZeroShotClassifier refuses a classifier without an entailment label.
        return None, _hf.ZeroShotClassifier(source)
    heads = [a for a in architectures if a.endswith(_TASK_HEADS)]
    if heads:
        raise ModelError(
            f"modules.nlp.model {nlp.model} is a {heads[0]} model, which cannot rank "
            "requests: set it to a sentence encoder (e.g. sentence-transformers/"
            "paraphrase-multilingual-MiniLM-L12-v2), an NLI model (with an 'entailment' "
            f"label), or {DEFAULT_MODEL}"
        )
    return _hf.HfEncoder(source), None


_LOG_ROOT = "/var/log"
# Cleanup targets, not temporary files of the agent's own.
_TEMP_ROOTS = ("/tmp", "/var/tmp")  # noqa: S108
_APT_CACHE = "/var/cache/apt"
_WEEK = 7 * 86400
_MONTH = 30 * 86400


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def plan_steps(intent: Intent) -> list[Step]:
    """The typed steps of an intent, per ACTIONS.md (decisions left to the policy)."""
    name = intent.intent
    args: dict[str, Any] = dict(intent.entities)
    if name == "unknown":
        return []
    if name == "logs.summarize":
        args.setdefault("source", "nginx" if "status" in args else "syslog")
        if args["source"] == "auth":
            # The authentication log's summary is the security scan.
            return [Step("security.audit", {k: v for k, v in args.items() if k == "since"})]
        return [Step("logs.summarize", args)]
    if name in ("security.audit", "system.status", "network.listening", "service.status"):
        return [Step(name, args)]
    if name in ("disk.usage", "files.find"):
        args.setdefault("path", "/")
        return [Step(name, args)]
    if name == "disk.health":
        return [Step(name, args)]
    if name == "process.top":
        return [Step(name, {"metric": args.get("metric", "cpu"), "count": args.get("count", 10)})]
    if name == "resources.optimize":
        return [Step(name, {})]
    if name == "packages.update":
        mode = packages_mode(fold(intent.request))
        return [Step(name, {"mode": mode}, changes_system=mode != "list")]
    if name in ("service.restart", "service.start", "service.stop"):
        return [Step(name, {"service": args["service"]}, changes_system=True)]
    if name == "backup.sync":
        return [
            Step(
                name,
                {"source": args["path"], "destination": args["destination"]},
                changes_system=True,
            )
        ]
    if name == "schedule.add":
        return [Step(name, {"cron": args["cron"], "task": args["task"]}, changes_system=True)]
    if name == "disk.cleanup":
        return _cleanup_steps(intent, args)
    raise AssertionError(f"no plan for intent {name}")


def _cleanup_steps(intent: Intent, args: dict[str, Any]) -> list[Step]:
    text = fold(intent.request)
    method = cleanup_method(text)
    about_logs = re.search(r"\b(?:logs?|journa(?:l|ux)|journald|journalctl)\b", text) is not None
    paths: list[str] = list(args.get("paths", [args["path"]] if "path" in args else []))
    if not paths:
        if about_logs:
            paths = [_LOG_ROOT]
        elif re.search(r"\b(?:cache|caches|apt)\b", text):
            paths = [_APT_CACHE]
        elif re.search(r"\b(?:tmp|temp|temporaires?|temporary)\b", text):
            paths = list(_TEMP_ROOTS)
        else:
            paths = [_LOG_ROOT, _TEMP_ROOTS[0]]
    older = args.get("older_than")
    steps: list[Step] = []
    others: list[str] = []
    if method in ("compress", "quarantine"):
        action = "files.compress" if method == "compress" else "files.quarantine"
        step_args = {"paths": paths, "older_than": older if older is not None else _WEEK}
        return [Step(action, step_args, changes_system=True)]
    for path in paths:
        if _under(path, _LOG_ROOT):
            if about_logs or path == _LOG_ROOT:
                vacuum: dict[str, Any] = {}
                if "size" in args:
                    vacuum["max_size"] = args["size"]
                else:
                    vacuum["older_than"] = older if older is not None else _MONTH
                steps.append(Step("journal.vacuum", vacuum, changes_system=True))
            steps.append(
                Step(
                    "files.delete",
                    {
                        "paths": [path],
                        "patterns": ["*.gz", "*.[0-9]", "*.old"],
                        "older_than": older if older is not None else _MONTH,
                    },
                    changes_system=True,
                )
            )
        elif _under(path, _APT_CACHE):
            steps.append(Step("apt.clean", {}, changes_system=True))
        else:
            others.append(path)
    if others:
        steps.append(
            Step(
                "files.delete",
                {"paths": others, "older_than": older if older is not None else _WEEK},
                changes_system=True,
            )
        )
    return steps
