"""A report rewritten by a model is kept only when its numbers are exactly the report's."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from libhfagent._i18n import fmt_int, fmt_percent
from libhfagent.reports._rewrite import numbers, rewrite

REPORT_EN = (
    "Between 00:00 and 23:59, nginx answered 1,234 requests: 58.8% were errors "
    "(404: 726). The busiest client was 192.168.1.10."
)
REPORT_FR = (
    f"nginx a répondu à {fmt_int(12345, 'fr')} requêtes, dont {fmt_percent(0.588, 'fr')} "
    "en erreur (404 : 726)."
)


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


class FakeModel:
    """A generator that answers a fixed text and remembers its prompts."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 234", {"1234"}),
        ("1\u202f234", {"1234"}),
        ("1,234", {"1234"}),
        ("1234", {"1234"}),
        ("1,234,567 and 1 234 567", {"1234567"}),
        ("58,8 %", {"58.8"}),
        ("58.8%", {"58.8"}),
        ("58,80", {"58.8"}),
        ("1,234.5 / 1.234,5", {"1234.5"}),
        ("0,125", {"0.125"}),
        ("-5 degrees", {"-5"}),
        ("on 2024-05-01", {"2024", "5", "1"}),
        ("at 03:00 there were 5.", {"3", "0", "5"}),
        ("from 192.168.1.10 (version 1.2.3)", {"192.168.1.10", "1.2.3"}),
        ("no number here", set()),
    ],
)
def test_numbers_are_normalised(text: str, expected: set[str]) -> None:
    assert numbers(text) == expected


def test_a_rewrite_that_keeps_every_number_is_accepted() -> None:
    answer = (
        "Today (00:00-23:59) nginx served 1234 requests; 58,8 % failed, 726 of them 404s. "
        "Top client: 192.168.1.10."
    )
    model = FakeModel(f"  {answer}\n")
    assert rewrite(REPORT_EN, model, lang="en") == answer
    assert len(model.prompts) == 1
    assert REPORT_EN in model.prompts[0]


def test_the_prompt_follows_the_language() -> None:
    model = FakeModel("")
    assert rewrite(REPORT_FR, model, lang="fr") == REPORT_FR
    assert "Réécris" in model.prompts[0]
    assert REPORT_FR in model.prompts[0]


def test_a_french_rewrite_with_english_separators_is_accepted() -> None:
    answer = "12,345 requêtes, 58.8% en erreur, dont 726 en 404."
    assert rewrite(REPORT_FR, FakeModel(answer), lang="fr") == answer


@pytest.mark.parametrize(
    "answer",
    [
        # a number changed (rounded)
        "Today (00:00-23:59) nginx served 1234 requests; 59% failed (404: 726). 192.168.1.10.",
        # a number dropped
        "Today (00:00-23:59) nginx served 1234 requests; 58.8% failed. 192.168.1.10.",
        # a number added
        "Today (00:00-23:59) nginx served 1234 requests on 3 sites; 58.8% failed "
        "(404: 726). 192.168.1.10.",
        # the address altered
        "Today (00:00-23:59) nginx served 1234 requests; 58.8% failed (404: 726). 192.168.1.1.",
        # nothing
        "   ",
    ],
)
def test_a_rewrite_that_changes_a_number_is_rejected(answer: str) -> None:
    assert rewrite(REPORT_EN, FakeModel(answer), lang="en") == REPORT_EN


def test_an_empty_report_asks_nothing() -> None:
    model = FakeModel("Hello 1")
    assert rewrite("", model, lang="en") == ""
    assert model.prompts == []


def test_generator_errors_reach_the_caller() -> None:
    from libhfagent._errors import ModelError

    def broken(prompt: str) -> str:
        raise ModelError("the model example/x cannot run")

    with pytest.raises(ModelError, match="example/x"):
        rewrite(REPORT_EN, broken, lang="en")


@pytest.fixture(scope="module")
def long_gpt2(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny GPT-2 of test_hf_models with room for a prompt and a report (1024 positions)."""
    import torch
    import transformers

    torch.manual_seed(1)
    tokenizer = transformers.AutoTokenizer.from_pretrained(models["gpt2"], local_files_only=True)
    tokenizer.model_max_length = 1024
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=1024,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    folder = tmp_path_factory.mktemp("gpt2-1024")
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_with_a_real_generation_model(
    long_gpt2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from libhfagent.config import AgentSettings, Config, Modules, NlpSettings
    from libhfagent.interpreter._hf import HfSource, TextGenerator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = Config(
        agent=AgentSettings(cache_dir=str(tmp_path / "cache")),
        modules=Modules(nlp=NlpSettings(model=str(long_gpt2))),
    )
    generator = TextGenerator(HfSource.from_config(config))
    for report, lang in ((REPORT_EN, "en"), (REPORT_FR, "fr"), ("All 3 disks are fine.", "en")):
        raw = generator.generate(_prompt_probe(report, lang), max_new_tokens=24)
        out = rewrite(report, lambda p: generator.generate(p, max_new_tokens=24), lang=lang)  # type: ignore[arg-type]
        assert out.strip()
        assert out == report or numbers(out) == numbers(report)
        if out != report:
            assert out == raw.strip()


def _prompt_probe(report: str, lang: str) -> str:
    """The prompt rewrite() sends, captured through a fake generator."""
    seen: list[str] = []
    rewrite(report, lambda p: seen.append(p) or "", lang=lang)  # type: ignore[arg-type, func-returns-value]
    return seen[0]
