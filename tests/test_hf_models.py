"""Any Hugging Face model: tiny models built here, loaded by path and from a Hub cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from libhfagent._errors import ModelError
from libhfagent.config import AgentSettings, Config, Modules, NlpSettings
from libhfagent.interpreter._hf import (
    EntityTagger,
    HfEncoder,
    HfSource,
    Ranked,
    TaggedEntity,
    TextGenerator,
    ZeroShotClassifier,
    hub_cache_dirs,
    is_offline,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

CORPUS = [
    "restart nginx on the web server",
    "redémarre le service apache2",
    "free disk space on /var by removing old logs",
    "libère de l'espace disque sur /var/log",
    "who is eating all the cpu",
    "show the 404 errors of the last 24 hours",
    "every sunday at 3am restart nginx",
    "this example is about services logs disk cpu schedule",
]
NER_LABELS = ["O", "B-SERVICE", "I-SERVICE", "B-PATH", "I-PATH"]


def _wordpiece() -> Any:
    """A BERT-style tokenizer trained on CORPUS, as transformers' fast tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))  # noqa: S106
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        CORPUS, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",  # noqa: S106
        pad_token="[PAD]",  # noqa: S106
        cls_token="[CLS]",  # noqa: S106
        sep_token="[SEP]",  # noqa: S106
        mask_token="[MASK]",  # noqa: S106
        model_max_length=64,
    )


def _bert_config(tokenizer: Any, **extra: Any) -> Any:
    return transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def _save(model: Any, tokenizer: Any, folder: Path) -> Path:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random models saved with save_pretrained: NLI, NER, GPT-2, a plain encoder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("hf-models")
    wordpiece = _wordpiece()
    out: dict[str, Path] = {}

    nli = _bert_config(
        wordpiece,
        num_labels=3,
        id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
        label2id={"contradiction": 0, "neutral": 1, "entailment": 2},
    )
    out["nli"] = _save(transformers.BertForSequenceClassification(nli), wordpiece, root / "nli")

    sentiment = _bert_config(
        wordpiece,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    out["sentiment"] = _save(
        transformers.BertForSequenceClassification(sentiment), wordpiece, root / "sentiment"
    )

    ner_config = _bert_config(
        wordpiece,
        num_labels=len(NER_LABELS),
        id2label=dict(enumerate(NER_LABELS)),
        label2id={label: i for i, label in enumerate(NER_LABELS)},
    )
    ner = transformers.BertForTokenClassification(ner_config)
    with torch.no_grad():  # every token a SERVICE, so that the tagger has entities to return
        ner.classifier.bias[NER_LABELS.index("B-SERVICE")] = 50.0
    out["ner"] = _save(ner, wordpiece, root / "ner")

    out["encoder"] = _save(transformers.BertModel(_bert_config(wordpiece)), wordpiece, root / "enc")

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    gpt_tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",  # noqa: S106
        eos_token="<|endoftext|>",  # noqa: S106
        unk_token="<|endoftext|>",  # noqa: S106
        model_max_length=64,
    )
    gpt_config = transformers.GPT2Config(
        vocab_size=len(gpt_tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        bos_token_id=gpt_tokenizer.eos_token_id,
        eos_token_id=gpt_tokenizer.eos_token_id,
    )
    out["gpt2"] = _save(transformers.GPT2LMHeadModel(gpt_config), gpt_tokenizer, root / "gpt2")
    return out


def _config(model: str, tmp_path: Path, token_file: str | None = None) -> Config:
    return Config(
        agent=AgentSettings(cache_dir=str(tmp_path / "agent-cache")),
        modules=Modules(nlp=NlpSettings(model=model, token_file=token_file)),
    )


def _offline_env(tmp_path: Path) -> dict[str, str]:
    return {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"), "HOME": str(tmp_path)}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the code under test does, the Hub client stays offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_zero_shot_ranks_every_label_from_a_local_path(
    models: dict[str, Path], tmp_path: Path
) -> None:
    source = HfSource.from_config(_config(str(models["nli"]), tmp_path), env=_offline_env(tmp_path))
    classifier = ZeroShotClassifier(source)
    labels = ["restart a service", "free disk space", "show cpu usage"]
    ranked = classifier.rank("redémarre nginx", labels)
    assert all(isinstance(r, Ranked) for r in ranked)
    assert sorted(r.label for r in ranked) == sorted(labels)
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    multi = classifier.rank("redémarre nginx", labels, multi_label=True)
    assert all(0.0 <= r.score <= 1.0 for r in multi)
    with pytest.raises(ValueError, match="label"):
        classifier.rank("x", [])


def test_zero_shot_refuses_a_model_without_an_entailment_label(
    models: dict[str, Path], tmp_path: Path
) -> None:
    source = HfSource.from_config(
        _config(str(models["sentiment"]), tmp_path), env=_offline_env(tmp_path)
    )
    with pytest.raises(ModelError, match="not an NLI model") as info:
        ZeroShotClassifier(source)
    assert str(models["sentiment"]) in str(info.value)


def test_ner_returns_entities_with_offsets(models: dict[str, Path], tmp_path: Path) -> None:
    source = HfSource.from_config(_config(str(models["ner"]), tmp_path), env=_offline_env(tmp_path))
    tagger = EntityTagger(source)
    text = "restart nginx and free /var/log"
    entities = tagger.tag(text)
    assert entities, "the biased tagger marks every token"
    for entity in entities:
        assert isinstance(entity, TaggedEntity)
        assert entity.label == "SERVICE"
        assert 0 <= entity.start < entity.end <= len(text)
        assert entity.text == text[entity.start : entity.end]
        assert 0.0 <= entity.score <= 1.0
    assert [e.start for e in entities] == sorted(e.start for e in entities)
    assert tagger.tag("   ") == ()


def test_text_generation_returns_only_new_text(models: dict[str, Path], tmp_path: Path) -> None:
    source = HfSource.from_config(
        _config(str(models["gpt2"]), tmp_path), env=_offline_env(tmp_path)
    )
    generator = TextGenerator(source)
    first = generator.generate("restart nginx", max_new_tokens=6)
    assert isinstance(first, str)
    # Greedy: the same prompt gives the same text.
    assert generator.generate("restart nginx", max_new_tokens=6) == first
    tokens = generator._pipe.tokenizer(first)["input_ids"]
    assert len(tokens) <= 6 + 2  # re-tokenising decoded text may merge/split a little


def test_hf_encoder_gives_unit_vectors(models: dict[str, Path], tmp_path: Path) -> None:
    source = HfSource.from_config(
        _config(str(models["encoder"]), tmp_path), env=_offline_env(tmp_path)
    )
    encoder = HfEncoder(source, threads=None)
    vectors = encoder.encode(["restart nginx", "libère de l'espace disque sur /var"])
    assert vectors.shape == (2, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert encoder.encode([]).shape == (0, 32)


def _hub_layout(folder: Path, cache: Path, model_id: str) -> Path:
    """Lay ``folder`` out in a Hub cache as huggingface_hub does after a download."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{model_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    return repo


def test_a_hub_id_loads_offline_from_the_hf_home_cache(
    models: dict[str, Path], tmp_path: Path
) -> None:
    env = _offline_env(tmp_path)
    _hub_layout(models["nli"], Path(env["HF_HOME"]) / "hub", "acme/tiny-nli")
    source = HfSource.from_config(_config("acme/tiny-nli", tmp_path), env=env)
    assert source.offline
    name, kwargs = source.resolve()
    assert name == "acme/tiny-nli"
    assert kwargs["cache_dir"] == env["HF_HOME"] + "/hub"
    assert kwargs["local_files_only"] is True
    ranked = ZeroShotClassifier(source).rank("restart nginx", ["service", "disk"])
    assert {r.label for r in ranked} == {"service", "disk"}


def test_a_hub_id_loads_offline_from_the_agent_cache(
    models: dict[str, Path], tmp_path: Path
) -> None:
    env = _offline_env(tmp_path)
    config = _config("acme/tiny-ner", tmp_path)
    agent_hub = Path(config.agent.cache_dir) / "huggingface" / "hub"
    _hub_layout(models["ner"], agent_hub, "acme/tiny-ner")
    assert hub_cache_dirs(config, env) == (Path(env["HF_HOME"]) / "hub", agent_hub)
    tagger = EntityTagger(HfSource.from_config(config, env=env))
    assert tagger.tag("restart nginx")


def test_a_missing_id_offline_names_the_model_and_the_caches(tmp_path: Path) -> None:
    env = _offline_env(tmp_path)
    config = _config("nobody-here/no-such-model", tmp_path)
    source = HfSource.from_config(config, env=env)
    for make in (ZeroShotClassifier, EntityTagger, TextGenerator, HfEncoder):
        with pytest.raises(ModelError) as info:
            make(source)
        message = str(info.value)
        assert "nobody-here/no-such-model" in message
        assert "HF_HUB_OFFLINE" in message
        assert str(Path(env["HF_HOME"]) / "hub") in message
        assert str(Path(config.agent.cache_dir) / "huggingface" / "hub") in message


def test_a_folder_that_is_not_a_model_is_refused_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "README.md").write_text("hello\n")
    source = HfSource.from_config(_config(str(folder), tmp_path), env=_offline_env(tmp_path))
    with pytest.raises(ModelError, match=r"has no config\.json") as info:
        EntityTagger(source)
    assert str(folder) in str(info.value)
    missing = HfSource.from_config(
        _config(str(tmp_path / "nowhere"), tmp_path), env=_offline_env(tmp_path)
    )
    with pytest.raises(ModelError, match="no such directory"):
        TextGenerator(missing)


def test_a_broken_model_folder_names_the_model(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    source = HfSource.from_config(_config(str(folder), tmp_path), env=_offline_env(tmp_path))
    with pytest.raises(ModelError) as info:
        ZeroShotClassifier(source)
    assert str(folder) in str(info.value)


def test_the_token_comes_from_the_token_file_and_is_never_shown(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("hf_secretvalue123\n")
    env = _offline_env(tmp_path)
    source = HfSource.from_config(_config("acme/x", tmp_path, str(token_file)), env=env)
    assert source.token == "hf_secretvalue123"  # noqa: S105
    assert "hf_secretvalue" not in repr(source)
    gone = HfSource.from_config(_config("acme/x", tmp_path, str(tmp_path / "none")), env=env)
    assert gone.token is None
    token_file.write_bytes(b"\xff\xfe")
    with pytest.raises(ModelError, match="token file"):
        HfSource.from_config(_config("acme/x", tmp_path, str(token_file)), env=env)


def test_offline_switches() -> None:
    assert is_offline({"HF_HUB_OFFLINE": "1"})
    assert is_offline({"HF_HUB_OFFLINE": "true"})
    assert is_offline({"TRANSFORMERS_OFFLINE": "1"})
    assert not is_offline({"HF_HUB_OFFLINE": "0"})
    assert not is_offline({})


def test_importing_the_module_loads_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, libhfagent.interpreter._hf; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_models_status_says_whether_the_configured_model_is_there(  # type: ignore[no-untyped-def]
    models: dict[str, Path], tmp_path: Path, cli, write_config
) -> None:
    env = {"HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1"}
    _hub_layout(models["ner"], tmp_path / "hf-home" / "hub", "acme/tiny-ner")
    for model, available in (
        (str(models["nli"]), True),
        ("acme/tiny-ner", True),
        ("nobody-here/no-such-model", False),
    ):
        config = write_config(
            {"agent": {"cache_dir": str(tmp_path / "c")}, "modules": {"nlp": {"model": model}}}
        )
        done = cli("--config", str(config), "models", "status", "--json", env=env)
        assert done.returncode == 1, done.stderr  # the embedded model is not prepared
        status = json.loads(done.stdout)
        assert status["configured_model"] == model
        assert status["configured_model_is_embedded"] is False
        assert status["configured_model_available"] is available
