"""``hf-agent models prepare|status``: the embedded model's ONNX cache."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._errors import ModelError
from .._i18n import fmt_decimal, translator
from ..config import Config
from ._main import EXIT_FAILED, EXIT_OK, _load_config, _print_json, _Ui

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``models prepare`` and ``models status``."""
    models = sub.add_parser(
        "models",
        help="prepare or inspect the embedded sentence model",
        description="The embedded sentence model (all-MiniLM-L6-v2) runs from an ONNX int8 "
        "copy in the cache directory; without it requests are understood by the grammar alone.",
    ).add_subparsers(dest="models_command", metavar="ACTION", required=True)
    prepare = models.add_parser(
        "prepare",
        help="export the embedded model to ONNX and int8 (once)",
        description="Check the embedded model's sha256, export it to ONNX with optimum and "
        "quantise it to int8 under agent.cache_dir/models. Does nothing when a verified copy "
        "is there already (unless --force).",
    )
    prepare.add_argument("--force", action="store_true", help="prepare again even if present")
    prepare.add_argument(
        "--quantization",
        choices=("avx2", "avx512", "avx512_vnni", "arm64"),
        help="int8 scheme (default: the one matching this CPU)",
    )
    prepare.add_argument("--json", action="store_true", help="print one JSON object")
    prepare.set_defaults(handler=_cmd_prepare)
    status = models.add_parser(
        "status",
        help="what is prepared, with digests and sizes (exit 1 when not prepared)",
        description="Show the prepared model files with their sha256 and size, checked against "
        "the manifest, and whether the embedded weights verify. Exit status 1 when nothing "
        "verified is prepared.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_cmd_status)


def _megabytes(size: int, lang: str) -> str:
    return fmt_decimal(size / 1e6, lang, 1)


def _print_files(manifest: dict[str, Any], ui: _Ui, lang: str) -> None:
    from rich.table import Table

    _ = translator(lang).gettext
    table = Table(_("File"), _("Size (MB)"))
    table.add_column("sha256", overflow="fold")
    for name, info in manifest["files"].items():
        table.add_row(name, _megabytes(info["bytes"], lang), info["sha256"])
    ui.out.print(table)


def _cmd_prepare(args: argparse.Namespace, ui: _Ui) -> int:
    from ..interpreter._embedding import MODEL_NAME, prepare

    config = _load_config(args)
    lang = config.agent.language
    _ = translator(lang).gettext
    labels = {
        "verifying": _("Verifying the embedded model's sha256…"),
        "exporting": _("Exporting to ONNX (takes a few seconds)…"),
        "quantizing": _("Quantizing to int8…"),
    }
    stages: list[str] = []

    def progress(stage: str) -> None:
        stages.append(stage)
        if not args.json:
            ui.err.print(labels.get(stage, stage), markup=False)

    prepared = prepare(
        config.agent.cache_dir, force=args.force, quantization=args.quantization, progress=progress
    )
    built = bool(stages)
    if args.json:
        _print_json(
            {"built": built, "directory": str(prepared.directory), "manifest": prepared.to_dict()},
            sys.stdout,
        )
        return EXIT_OK
    message = (
        _("Embedded model %(name)s prepared in %(directory)s (int8: %(scheme)s).")
        if built
        else _("Embedded model %(name)s already prepared in %(directory)s (int8: %(scheme)s).")
    )
    ui.out.print(
        message
        % {"name": MODEL_NAME, "directory": prepared.directory, "scheme": prepared.quantization},
        markup=False,
    )
    _print_files(prepared.to_dict(), ui, lang)
    return EXIT_OK


def _status(config: Config) -> dict[str, Any]:
    from ..config._model import DEFAULT_MODEL
    from ..interpreter._embedding import EMBEDDED_SHA256, model_status, verify_source

    status = model_status(config.agent.cache_dir).to_dict()
    source: dict[str, Any] = {"sha256": EMBEDDED_SHA256}
    try:
        source.update(directory=str(verify_source()), verified=True, problem=None)
    except ModelError as exc:
        source.update(directory=None, verified=False, problem=str(exc))
    return {
        **status,
        "configured_model_available": _configured_available(config),
        "cache_dir": config.agent.cache_dir,
        "source": source,
        "nlp_enabled": config.modules.nlp.enabled,
        "configured_model": config.modules.nlp.model,
        "configured_model_is_embedded": config.modules.nlp.model == DEFAULT_MODEL,
    }


def _configured_available(config: Config) -> bool | None:
    """Whether the configured model (when not the embedded one) is there to load offline."""
    from ..config._model import DEFAULT_MODEL
    from ..interpreter._hf import HfSource

    if config.modules.nlp.model == DEFAULT_MODEL:
        return None
    try:
        HfSource.from_config(config, env={**os.environ, "HF_HUB_OFFLINE": "1"}).resolve()
    except ModelError:
        return False
    return True


def _cmd_status(args: argparse.Namespace, ui: _Ui) -> int:
    config = _load_config(args)
    status = _status(config)
    exit_status = EXIT_OK if status["prepared"] else EXIT_FAILED
    if args.json:
        _print_json(status, sys.stdout)
        return exit_status
    lang = config.agent.language
    _ = translator(lang).gettext
    if status["prepared"]:
        manifest = status["manifest"]
        ui.out.print(
            _(
                "Embedded model %(name)s: prepared in %(directory)s on %(created)s "
                "(int8: %(scheme)s)."
            )
            % {
                "name": status["name"],
                "directory": status["directory"],
                "created": manifest["created"],
                "scheme": manifest["quantization"],
            },
            markup=False,
        )
        _print_files(manifest, ui, lang)
    else:
        ui.out.print(
            _("Embedded model %(name)s: %(reason)s")
            % {"name": status["name"], "reason": status["reason"]},
            markup=False,
        )
    source = status["source"]
    if source["verified"]:
        ui.out.print(
            _("Source weights verified (sha256 %(digest)s) in %(directory)s.")
            % {"digest": source["sha256"], "directory": source["directory"]},
            markup=False,
        )
    else:
        ui.out.print(source["problem"], markup=False)
    if not status["configured_model_is_embedded"]:
        message = (
            _("Configured model (modules.nlp.model): %(model)s, available offline.")
            if status["configured_model_available"]
            else _("Configured model (modules.nlp.model): %(model)s, not available offline.")
        )
        ui.out.print(message % {"model": status["configured_model"]}, markup=False)
    return exit_status
