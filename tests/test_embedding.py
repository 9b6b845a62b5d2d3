"""The embedded encoder: verified weights, one ONNX export, onnxruntime-only encoding."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from libhfagent._errors import ModelError
from libhfagent.config import AgentSettings, Config, Modules, NlpSettings
from libhfagent.interpreter._embedding import (
    DIMENSION,
    EMBEDDED_SHA256,
    Encoder,
    PreparedModel,
    embedded_model_dir,
    load_encoder,
    model_status,
    prepare,
    verify_source,
)

SENTENCES = [
    "restart nginx",
    "Libère de l'espace disque sur /var en supprimant les anciens logs",
    "who is eating all the CPU?",
    "every sunday at 3am restart the web server",
    "résume les erreurs 404 de nginx des dernières 24 heures",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory with the embedded model prepared once for the module."""
    path = tmp_path_factory.mktemp("cache")
    prepare(path)
    return path


def _config(cache_dir: Path, *, enabled: bool = True) -> Config:
    return Config(
        agent=AgentSettings(cache_dir=str(cache_dir)),
        modules=Modules(nlp=NlpSettings(enabled=enabled)),
    )


def _torch_eager(texts: list[str]) -> np.ndarray:
    """The reference: transformers + torch on the safetensors, mean pooling."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = embedded_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


def test_the_package_weights_verify() -> None:
    folder = verify_source()
    assert folder == embedded_model_dir()
    assert hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest() == (
        EMBEDDED_SHA256
    )


def test_other_weights_are_refused_naming_file_and_digests(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not the model")
    actual = hashlib.sha256(b"not the model").hexdigest()
    with pytest.raises(ModelError) as info:
        verify_source(tmp_path)
    message = str(info.value)
    assert str(weights) in message
    assert EMBEDDED_SHA256 in message
    assert actual in message
    with pytest.raises(ModelError, match=actual):
        prepare(tmp_path / "cache", model_dir=tmp_path)
    assert not (tmp_path / "cache" / "models").exists() or not any(
        (tmp_path / "cache" / "models").iterdir()
    )


def test_prepare_writes_a_manifest_that_matches_the_files(cache: Path) -> None:
    status = model_status(cache)
    assert status.reason is None
    prepared = status.prepared
    assert isinstance(prepared, PreparedModel)
    assert prepared.directory == cache / "models" / f"all-MiniLM-L6-v2-{EMBEDDED_SHA256[:8]}"
    manifest = json.loads((prepared.directory / "manifest.json").read_text())
    assert manifest["source_sha256"] == EMBEDDED_SHA256
    assert set(manifest["files"]) == {"model.onnx", "model_quantized.onnx", "tokenizer.json"}
    for name, info in manifest["files"].items():
        data = (prepared.directory / name).read_bytes()
        assert info == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    # int8 is about a quarter of fp32.
    sizes = {name: info["bytes"] for name, info in manifest["files"].items()}
    assert sizes["model_quantized.onnx"] < sizes["model.onnx"] / 3
    assert manifest["versions"]["onnxruntime"]
    assert manifest["versions"]["torch"]
    assert manifest["quantization"] in ("avx2", "avx512", "avx512_vnni", "arm64")
    # Nothing left over from the work folder.
    assert sorted(p.name for p in (cache / "models").iterdir()) == [prepared.directory.name]
    assert sorted(p.name for p in prepared.directory.iterdir()) == [
        "manifest.json",
        "model.onnx",
        "model_quantized.onnx",
        "tokenizer.json",
    ]


def test_prepare_is_idempotent(cache: Path) -> None:
    before = model_status(cache).prepared
    assert before is not None
    stamps = {p.name: p.stat().st_mtime_ns for p in before.directory.iterdir()}
    again = prepare(cache)
    assert again == before
    assert {p.name: p.stat().st_mtime_ns for p in again.directory.iterdir()} == stamps


def test_encode_gives_unit_float32_rows(cache: Path) -> None:
    encoder = Encoder.from_cache(cache)
    vectors = encoder.encode(SENTENCES)
    assert vectors.shape == (len(SENTENCES), DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert encoder.encode([]).shape == (0, DIMENSION)
    with pytest.raises(TypeError):
        encoder.encode("one string")  # type: ignore[arg-type]


def test_padding_does_not_change_a_vector(cache: Path) -> None:
    """A short sentence in a batch with a long one embeds as it does alone."""
    encoder = Encoder.from_cache(cache, variant="fp32")
    batch = encoder.encode(SENTENCES)
    for i, sentence in enumerate(SENTENCES):
        alone = encoder.encode([sentence])[0]
        assert float(alone @ batch[i]) > 0.9999


def test_similar_requests_are_closer_than_unrelated_ones(cache: Path) -> None:
    encoder = Encoder.from_cache(cache)
    a, b, c = encoder.encode(
        ["restart the nginx service", "please restart nginx", "show disk usage of /var"]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_int8_fp32_and_torch_eager_agree(cache: Path) -> None:
    reference = _torch_eager(SENTENCES)
    fp32 = Encoder.from_cache(cache, variant="fp32").encode(SENTENCES)
    int8 = Encoder.from_cache(cache, variant="int8").encode(SENTENCES)
    fp32_cos = (fp32 * reference).sum(axis=1)
    int8_cos = (int8 * reference).sum(axis=1)
    assert fp32_cos.min() > 0.9999, fp32_cos
    assert int8_cos.min() >= 0.98, int8_cos
    # Similarities between sentences, what intent ranking uses, move little.
    assert np.abs(int8 @ int8.T - reference @ reference.T).max() < 0.05


def test_the_request_path_imports_neither_torch_nor_transformers(cache: Path) -> None:
    code = textwrap.dedent(
        f"""
        import json, sys
        from libhfagent.config import AgentSettings, Config
        from libhfagent.interpreter._embedding import load_encoder
        encoder = load_encoder(Config(agent=AgentSettings(cache_dir={str(cache)!r})))
        vectors = encoder.encode(["redémarre nginx", "restart nginx"])
        heavy = sorted(
            name for name in sys.modules
            if name.split(".")[0] in ("torch", "transformers", "optimum", "sentence_transformers")
        )
        print(json.dumps({{"shape": list(vectors.shape), "heavy": heavy}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"shape": [2, DIMENSION], "heavy": []}


def test_load_encoder_without_a_preparation_returns_none_with_a_reason(tmp_path: Path) -> None:
    reasons: list[str] = []
    assert load_encoder(_config(tmp_path), on_missing=reasons.append) is None
    assert len(reasons) == 1
    assert "hf-agent models prepare" in reasons[0]
    assert str(tmp_path / "models") in reasons[0]
    status = model_status(tmp_path)
    assert status.prepared is None
    assert status.reason is not None and "not prepared" in status.reason


def test_load_encoder_honours_nlp_enabled(cache: Path) -> None:
    reasons: list[str] = []
    assert load_encoder(_config(cache, enabled=False), on_missing=reasons.append) is None
    assert reasons == ["modules.nlp.enabled is false"]
    encoder = load_encoder(_config(cache))
    assert isinstance(encoder, Encoder)
    assert encoder.variant == "int8"
    assert encoder.threads == 1


def test_session_is_created_lazily(cache: Path) -> None:
    encoder = Encoder.from_cache(cache)
    assert encoder._session is None
    encoder.encode(["hello"])
    assert encoder._session is not None


def _copy(cache: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    return copy


def test_a_tampered_onnx_file_is_refused(cache: Path, tmp_path: Path) -> None:
    copy = _copy(cache, tmp_path)
    directory = next((copy / "models").iterdir())
    onnx = directory / "model_quantized.onnx"
    with onnx.open("r+b") as stream:
        stream.seek(os.path.getsize(onnx) // 2)
        byte = stream.read(1)
        stream.seek(-1, os.SEEK_CUR)
        stream.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError) as info:
        load_encoder(_config(copy))
    message = str(info.value)
    assert str(onnx) in message and "hf-agent models prepare --force" in message
    status = model_status(copy)
    assert status.prepared is None and status.reason == message
    # The fp32 file is intact and still loads.
    assert Encoder.from_cache(copy, variant="fp32").encode(["ok"]).shape == (1, DIMENSION)
    # prepare() notices and prepares again.
    repaired = prepare(copy)
    assert model_status(copy).prepared == repaired
    assert Encoder.from_cache(copy).encode(["ok"]).shape == (1, DIMENSION)


def test_a_manifest_from_other_weights_is_refused(cache: Path, tmp_path: Path) -> None:
    copy = _copy(cache, tmp_path)
    manifest_path = next((copy / "models").iterdir()) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["source_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="0" * 64):
        load_encoder(_config(copy))
    manifest_path.write_text("{not json")
    with pytest.raises(ModelError, match="manifest"):
        Encoder.from_cache(copy)


def test_cli_models_prepare_and_status(tmp_path: Path, cli, write_config) -> None:  # type: ignore[no-untyped-def]
    cache_dir = tmp_path / "cli-cache"
    config = write_config({"agent": {"cache_dir": str(cache_dir)}})
    before = cli("--config", str(config), "models", "status", "--json")
    assert before.returncode == 1, before.stderr
    status = json.loads(before.stdout)
    assert status["prepared"] is False
    assert "hf-agent models prepare" in status["reason"]
    assert status["source"]["sha256"] == EMBEDDED_SHA256
    assert status["source"]["verified"] is True

    done = cli("--config", str(config), "models", "prepare")
    assert done.returncode == 0, done.stderr
    assert "all-MiniLM-L6-v2" in done.stdout

    after = cli("--config", str(config), "models", "status", "--json")
    assert after.returncode == 0, after.stderr
    status = json.loads(after.stdout)
    assert status["prepared"] is True
    files = status["manifest"]["files"]
    directory = Path(status["directory"])
    for name, info in files.items():
        data = (directory / name).read_bytes()
        assert info == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    again = cli("--config", str(config), "models", "prepare", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["manifest"] == status["manifest"]

    text = cli("--config", str(config), "models", "status")
    assert text.returncode == 0, text.stderr
    assert "model_quantized.onnx" in text.stdout
