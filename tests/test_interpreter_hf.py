"""The Interpreter with another Hugging Face model than the embedded one (tiny local models)."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest

from libhfagent._errors import ModelError
from libhfagent.config import AgentSettings, Config, Modules, NlpSettings
from libhfagent.interpreter import Interpreter
from libhfagent.interpreter._hf import HfEncoder, ZeroShotClassifier
from libhfagent.interpreter._ranker import COMBINED, DESCRIPTIONS

NOW = dt.datetime(2024, 5, 6, 12, 0, tzinfo=dt.UTC)
REQUESTS = ("redémarre nginx", "free disk space on /var", "who is eating all the cpu", "bonjour")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny random models of test_hf_models (NLI, sentiment, NER, encoder, GPT-2).

    Imported when a test needs them, not at collection: torch stays out of
    the process until then (test_intents checks the request path without it).
    """
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    built: dict[str, Path] = inspect.unwrap(importlib.import_module("test_hf_models").models)(
        tmp_path_factory
    )
    return built


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network, and Hub caches of this test only."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)


def _config(model: str, tmp_path: Path, *, enabled: bool = True) -> Config:
    return Config(
        agent=AgentSettings(cache_dir=str(tmp_path / "agent-cache"), timezone="UTC"),
        modules=Modules(nlp=NlpSettings(model=model, enabled=enabled)),
    )


def _interpreter(config: Config) -> Interpreter:
    return Interpreter(config, clock=lambda: NOW, units=["nginx", "apache2"])


def test_a_sentence_encoder_replaces_the_embedded_model(
    models: dict[str, Path],
    tmp_path: Path,
) -> None:
    interp = _interpreter(_config(str(models["encoder"]), tmp_path))
    assert interp.ranking == "encoder"
    assert interp.uses_model
    ranker = interp._ranker
    assert isinstance(ranker.encoder, HfEncoder)
    assert ranker.classifier is None
    assert ranker.weights == COMBINED
    sims = ranker.similarities("redémarre nginx")
    assert set(sims) == set(DESCRIPTIONS) | {"unknown"}
    assert all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in sims.values())
    # The exemplar matrix is the configured model's: same vectors as encoding them afresh.
    first = np.asarray(ranker.encoder.encode(["restart nginx"]))[0]
    assert ranker._matrix.shape[1] == first.shape[0]
    for request in REQUESTS:
        intent = interp.interpret(request)
        assert 0.0 <= intent.confidence <= 1.0
        interp.plan(intent)
    # The grammar still carries a clear request with this random encoder.
    restart = interp.interpret("restart nginx")
    assert restart.intent == "service.restart"
    assert restart.entities == {"service": "nginx"}


def test_an_nli_model_ranks_intents_by_entailment(
    models: dict[str, Path],
    tmp_path: Path,
) -> None:
    interp = _interpreter(_config(str(models["nli"]), tmp_path))
    assert interp.ranking == "zero-shot"
    assert interp.uses_model
    ranker = interp._ranker
    assert ranker.encoder is None
    assert isinstance(ranker.classifier, ZeroShotClassifier)
    scores = ranker.similarities("restart nginx")
    assert set(scores) == set(DESCRIPTIONS) | {"unknown"}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    best = max(v for k, v in scores.items() if k != "unknown")
    assert scores["unknown"] == pytest.approx(1.0 - best)
    # The same entailments as asking the classifier directly with the hypotheses.
    direct = ranker.classifier.rank(
        "restart nginx",
        list(DESCRIPTIONS.values()),
        template="This request is about {}.",
        multi_label=True,
    )
    by_label = {d: i for i, d in DESCRIPTIONS.items()}
    for ranked in direct:
        assert scores[by_label[ranked.label]] == pytest.approx(ranked.score, abs=1e-6)
    for request in REQUESTS:
        assert 0.0 <= interp.interpret(request).confidence <= 1.0
    assert interp.interpret("restart nginx").intent == "service.restart"


def test_a_classifier_without_entailment_is_refused_naming_it(
    models: dict[str, Path],
    tmp_path: Path,
) -> None:
    with pytest.raises(ModelError, match="not an NLI model") as info:
        _interpreter(_config(str(models["sentiment"]), tmp_path))
    assert str(models["sentiment"]) in str(info.value)


def test_a_generation_model_is_refused_naming_it(
    models: dict[str, Path],
    tmp_path: Path,
) -> None:
    with pytest.raises(ModelError, match="GPT2LMHeadModel") as info:
        _interpreter(_config(str(models["gpt2"]), tmp_path))
    assert str(models["gpt2"]) in str(info.value)


def test_a_missing_model_offline_fails_naming_model_and_caches(tmp_path: Path) -> None:
    config = _config("example-org/not-downloaded-model", tmp_path)
    with pytest.raises(ModelError) as info:
        _interpreter(config)
    message = str(info.value)
    assert "example-org/not-downloaded-model" in message
    assert "HF_HUB_OFFLINE" in message
    assert str(tmp_path / "hf-home" / "hub") in message
    assert str(tmp_path / "agent-cache" / "huggingface" / "hub") in message


def test_a_disabled_module_ignores_the_configured_model(tmp_path: Path) -> None:
    interp = _interpreter(_config("example-org/not-downloaded-model", tmp_path, enabled=False))
    assert interp.ranking == "grammar"
    assert not interp.uses_model


def test_cli_reports_the_missing_model_without_traceback(cli, write_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conf = write_config(
        {
            "agent": {"cache_dir": str(tmp_path / "agent-cache")},
            "modules": {"nlp": {"model": "example-org/not-downloaded-model"}},
        }
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    proc = cli("--config", str(conf), "plan", "--json", "restart nginx", env=env)
    assert proc.returncode != 0
    assert "example-org/not-downloaded-model" in proc.stderr
    assert "Traceback" not in proc.stderr
