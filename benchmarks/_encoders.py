"""Encoder latency and memory: torch eager vs ONNX fp32 vs ONNX int8, one thread.

Helpers for ``benchmarks/interpreter.py`` (and runnable alone):

* :func:`time_torch_eager`, :func:`time_onnx`: p50/p95 of one request (a
  single sentence, tokenise + model + mean pooling + normalisation), one
  intra-op thread, after a warm-up, cycling through the given sentences;
* :func:`rss_of_fresh_process`: peak RSS (``ru_maxrss``) that a new Python
  process reports after loading one encoder and encoding one sentence;
* :func:`compare`: all of it in one run, with ratios against torch eager.

The ONNX files come from ``libhfagent.interpreter._embedding.prepare`` in a
cache directory (prepared here when missing; that imports torch).

Run: ``.venv/bin/python benchmarks/_encoders.py [--cache DIR] [--requests N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from libhfagent.interpreter._embedding import (  # noqa: E402
    Encoder,
    embedded_model_dir,
    model_status,
    prepare,
)

REQUESTS = (
    "Analyse les logs de Nginx des dernières 24 heures et résume les erreurs 404",
    "qui mange tout le CPU",
    "every sunday at 3am restart nginx",
    "Libère de l'espace disque sur /var en supprimant les anciens logs",
    "how is this machine doing?",
    "show failed ssh logins since yesterday",
    "redemarre apache stp",
    "summarize the 500 errors of the last 2 weeks",
)
"""Typical requests, French and English, short and long."""


@attrs.frozen
class Timing:
    """Latency of one request.

    Attributes:
        name: What was timed (``torch eager``, ``onnx fp32``, ``onnx int8``).
        p50_ms: Median, in milliseconds.
        p95_ms: 95th percentile, in milliseconds.
        requests: How many requests were timed.
        load_s: Seconds to load the model (and, for ONNX, create the session).
    """

    name: str
    p50_ms: float
    p95_ms: float
    requests: int
    load_s: float


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[94]


def _time(
    name: str,
    encode: Callable[[str], Any],
    load_s: float,
    texts: Sequence[str],
    requests: int,
    warmup: int,
) -> Timing:
    for i in range(warmup):
        encode(texts[i % len(texts)])
    samples = []
    for i in range(requests):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        encode(text)
        samples.append((time.perf_counter() - start) * 1000)
    p50, p95 = _percentiles(samples)
    return Timing(name, p50, p95, requests, load_s)


def torch_eager_encoder(threads: int = 1) -> Callable[[str], Any]:
    """One-sentence encoding with transformers ``AutoModel`` on the safetensors, torch eager."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    folder = embedded_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()

    def encode(text: str) -> Any:
        batch = tokenizer([text], truncation=True, max_length=256, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()

    return encode


def time_torch_eager(
    texts: Sequence[str] = REQUESTS, *, requests: int = 300, warmup: int = 20
) -> Timing:
    """p50/p95 of one request with torch eager on one thread."""
    start = time.perf_counter()
    encode = torch_eager_encoder(threads=1)
    load_s = time.perf_counter() - start
    return _time("torch eager", encode, load_s, texts, requests, warmup)


def time_onnx(
    cache_dir: str | os.PathLike[str],
    variant: str = "int8",
    texts: Sequence[str] = REQUESTS,
    *,
    requests: int = 300,
    warmup: int = 20,
) -> Timing:
    """p50/p95 of one request with the prepared ONNX model (``int8`` or ``fp32``), one thread."""
    start = time.perf_counter()
    encoder = Encoder.from_cache(cache_dir, variant=variant, threads=1)  # type: ignore[arg-type]
    encoder.encode([texts[0]])  # creates the session
    load_s = time.perf_counter() - start
    return _time(
        f"onnx {variant}", lambda text: encoder.encode([text]), load_s, texts, requests, warmup
    )


_RSS_CODE = {
    "python": """
        import numpy
        vectors = None
    """,
    "onnx-int8": """
        from libhfagent.interpreter._embedding import Encoder
        vectors = Encoder.from_cache(CACHE, variant="int8").encode(["restart nginx"])
    """,
    "onnx-fp32": """
        from libhfagent.interpreter._embedding import Encoder
        vectors = Encoder.from_cache(CACHE, variant="fp32").encode(["restart nginx"])
    """,
    "torch": """
        import torch
        from transformers import AutoModel, AutoTokenizer
        from libhfagent.interpreter._embedding import embedded_model_dir
        torch.set_num_threads(1)
        tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
        model = AutoModel.from_pretrained(embedded_model_dir()).eval()
        with torch.inference_mode():
            vectors = model(**tokenizer(["restart nginx"], return_tensors="pt"))
    """,
}


def rss_of_fresh_process(kind: str, cache_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Peak RSS of a new process that loaded one encoder and encoded one sentence.

    Args:
        kind: ``python`` (numpy only: the floor), ``onnx-int8``, ``onnx-fp32``
            or ``torch``.
        cache_dir: The cache with the prepared model.

    Returns:
        ``{"kind", "max_rss_mb", "ru_maxrss_mb", "torch_imported",
        "transformers_imported"}``. ``max_rss_mb`` is the process's own
        ``VmHWM`` (peak RSS of its address space, reset by ``exec``);
        ``ru_maxrss_mb`` is ``getrusage(RUSAGE_SELF).ru_maxrss``, which Linux
        carries over ``fork`` + ``exec``, so it is at least the parent's RSS
        at fork time: it is right only when the caller is small, which is
        why :func:`compare` measures memory before loading anything.
    """
    body = textwrap.dedent(_RSS_CODE[kind])
    code = (
        f"import json, resource, sys\nsys.path.insert(0, {str(REPO)!r})\n"
        f"CACHE = {str(cache_dir)!r}\n{body}\n"
        "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "print(json.dumps({'max_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " 'hwm_kb': int(hwm[0]), 'torch': 'torch' in sys.modules,"
        " 'transformers': 'transformers' in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "kind": kind,
        "max_rss_mb": result["hwm_kb"] / 1024,
        "ru_maxrss_mb": result["max_rss_kb"] / 1024,
        "torch_imported": result["torch"],
        "transformers_imported": result["transformers"],
    }


def ensure_prepared(cache_dir: str | os.PathLike[str]) -> float:
    """Prepare the ONNX files in ``cache_dir`` if needed; the seconds it took (0 when there)."""
    if model_status(cache_dir).prepared is not None:
        return 0.0
    start = time.perf_counter()
    prepare(cache_dir)
    return time.perf_counter() - start


def compare(
    cache_dir: str | os.PathLike[str],
    texts: Sequence[str] = REQUESTS,
    *,
    requests: int = 300,
) -> dict[str, Any]:
    """Everything in one run: the three latencies and four RSS figures, with ratios.

    The ratios are against torch eager measured in the same run.
    """
    prepare_s = ensure_prepared(cache_dir)
    rss = [rss_of_fresh_process(kind, cache_dir) for kind in _RSS_CODE]
    timings = [time_onnx(cache_dir, "int8", texts, requests=requests)]
    timings.append(time_onnx(cache_dir, "fp32", texts, requests=requests))
    timings.append(time_torch_eager(texts, requests=requests))
    base = timings[-1]
    torch_rss = next(r["max_rss_mb"] for r in rss if r["kind"] == "torch")
    return {
        "prepare_s": prepare_s,
        "latency": [
            {**attrs.asdict(t), "speedup_vs_torch": base.p50_ms / t.p50_ms} for t in timings
        ],
        "rss": [{**r, "ratio_vs_torch": r["max_rss_mb"] / torch_rss} for r in rss],
    }


def _print(result: dict[str, Any]) -> None:
    if result["prepare_s"]:
        print(f"prepared the ONNX files in {result['prepare_s']:.1f} s")
    print("one request, one thread (tokenise + model + pooling):")
    print(f"  {'':12} {'p50 ms':>8} {'p95 ms':>8} {'x torch':>8} {'load s':>7}")
    for t in result["latency"]:
        print(
            f"  {t['name']:12} {t['p50_ms']:8.2f} {t['p95_ms']:8.2f} "
            f"{t['speedup_vs_torch']:8.2f} {t['load_s']:7.2f}"
        )
    print("peak RSS of a fresh process that loaded the encoder and encoded one sentence:")
    for r in result["rss"]:
        flags = "torch imported" if r["torch_imported"] else "no torch"
        print(
            f"  {r['kind']:12} {r['max_rss_mb']:8.1f} MB  {r['ratio_vs_torch']:.2f} x torch"
            f"  (ru_maxrss {r['ru_maxrss_mb']:.1f} MB; {flags})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="cache directory with (or for) the prepared model")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per encoder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hf-agent-bench-") as scratch:
        result = compare(args.cache or scratch, requests=args.requests)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
