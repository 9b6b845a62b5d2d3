"""Interpreter accuracy, ablation and latency on the evaluation sets.

Prints, on ``tests/data/requests/dev.jsonl`` and ``test.jsonl``:

* intent accuracy overall and per intent, exact-entity accuracy (the intent
  and every entity right), the most frequent confusion pairs;
* the ablation: the grammar alone, the sentence model alone, and both combined
  (:mod:`libhfagent.interpreter._ranker`);
* the end-to-end latency of ``Interpreter.interpret`` (p50/p95, one core, one
  thread) with and without the model, and whether torch was imported on the
  request path;
* the encoder's latency torch eager vs ONNX fp32 vs ONNX int8 and the RSS of a
  process that loaded each (``benchmarks/_encoders.py``).

``--fit`` grid-searches the combination's weights on the dev split only and
prints them (they are written by hand into ``_ranker.py``); the test split is
never used to choose anything.

Run: ``.venv/bin/python benchmarks/interpreter.py [--cache DIR] [--fit] [--requests N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from libhfagent.config import Config  # noqa: E402
from libhfagent.interpreter import Interpreter  # noqa: E402
from libhfagent.interpreter._ranker import (  # noqa: E402
    _INTENTS,
    COMBINED,
    MODEL_ONLY,
    Weights,
)

DATA = REPO / "tests" / "data" / "requests"
NOW = dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.UTC)


def load(split: str) -> list[dict[str, Any]]:
    """The requests of one split."""
    with open(DATA / f"{split}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(interp: Interpreter, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Intent accuracy (overall, per intent), exact entities and confusions of one interpreter."""
    per: dict[str, list[int]] = {}
    confusions: Counter[tuple[str, str]] = Counter()
    intent_ok = exact = 0
    for row in rows:
        got = interp.interpret(row["request"])
        ok = got.intent == row["intent"]
        intent_ok += ok
        exact += ok and dict(got.entities) == row["entities"]
        per.setdefault(row["intent"], [0, 0])
        per[row["intent"]][0] += ok
        per[row["intent"]][1] += 1
        if not ok:
            confusions[(row["intent"], got.intent)] += 1
    n = len(rows)
    return {
        "n": n,
        "intent": intent_ok / n,
        "exact": exact / n,
        "per_intent": {k: v[0] / v[1] for k, v in sorted(per.items())},
        "confusions": confusions.most_common(8),
    }


class _MemoSims:
    """Caches the encoder's similarities per request (for the weight search only)."""

    def __init__(self, interp: Interpreter) -> None:
        self._orig = interp._ranker.similarities
        self._cache: dict[str, dict[str, float]] = {}
        interp._ranker.similarities = self  # type: ignore[method-assign]

    def __call__(self, request: str) -> dict[str, float]:
        if request not in self._cache:
            self._cache[request] = self._orig(request)
        return self._cache[request]


def _log_likelihood(interp: Interpreter, rows: Sequence[dict[str, Any]], w: Weights) -> float:
    from libhfagent.interpreter._grammar import features
    from libhfagent.interpreter._text import fold

    total = 0.0
    for row in rows:
        text = interp._lexicon.correct(fold(row["request"]))
        grammar = features(text, interp._catalog).scores
        sims = interp._ranker.similarities(row["request"]) if w.model else {}
        z = {
            i: (w.unknown if i == "unknown" else w.grammar * grammar.get(i, 0.0))
            + w.model * sims.get(i, 0.0)
            for i in _INTENTS
        }
        top = max(z.values())
        log_norm = top + math.log(sum(math.exp(v - top) for v in z.values()))
        total += z.get(row["intent"], -1e9) - log_norm
    return total / len(rows)


def fit(interp: Interpreter, rows: Sequence[dict[str, Any]]) -> dict[str, Weights]:
    """The best weights on ``rows`` (dev): accuracy first, then the log-likelihood."""
    _MemoSims(interp)
    grids = {
        "grammar": itertools.product((8, 12, 16, 24), (0,), (3, 4, 5, 6, 7, 8, 10)),
        "model": itertools.product((0,), (10, 20, 30, 40, 60, 80), (-2, 0, 2, 4, 6, 8)),
        "combined": itertools.product((8, 12, 16, 24), (2, 4, 6, 8, 12, 16), (4, 6, 8, 10, 12, 14)),
    }
    out: dict[str, Weights] = {}
    for name, grid in grids.items():
        best: tuple[float, float, Weights] | None = None
        for a, b, u in grid:
            w = Weights(float(a), float(b), float(u), 0.9 if name == "grammar" else 1.0)
            interp._ranker.weights = w
            acc = evaluate(interp, rows)["intent"]
            if best is not None and acc < best[0]:
                continue
            ll = _log_likelihood(interp, rows, w)
            if best is None or (acc, ll) > best[:2]:
                best = (acc, ll, w)
        assert best is not None
        out[name] = best[2]
        print(f"  fit {name:9} {best[2]}  dev accuracy {best[0]:.4f}  log-lik {best[1]:.4f}")
    interp._ranker.weights = COMBINED
    return out


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return statistics.median(ordered), p95


def latency(
    call: Callable[[str], object], texts: Sequence[str], requests: int
) -> tuple[float, float]:
    """p50 and p95 in milliseconds of ``call`` over ``requests`` requests, after a warm-up."""
    for t in texts[:20]:
        call(t)
    samples: list[float] = []
    for i in range(requests):
        t = texts[i % len(texts)]
        start = time.perf_counter()
        call(t)
        samples.append((time.perf_counter() - start) * 1000)
    return _percentiles(samples)


def _print_eval(name: str, result: dict[str, Any]) -> None:
    print(
        f"  {name:9} intent {result['intent'] * 100:6.2f} %   exact entities "
        f"{result['exact'] * 100:6.2f} %   (n={result['n']})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="cache directory holding the prepared model")
    parser.add_argument("--fit", action="store_true", help="fit the weights on dev and print them")
    parser.add_argument("--requests", type=int, default=2000, help="requests timed per variant")
    parser.add_argument("--no-encoders", action="store_true", help="skip the encoder comparison")
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cache = args.cache or os.environ.get("HF_AGENT_CACHE_DIR") or tempfile.mkdtemp(prefix="hfa-")
    config = Config.default(env={"HF_AGENT_CACHE_DIR": cache})

    try:
        from libhfagent.interpreter._embedding import load_encoder, model_status
    except ImportError:
        load_encoder = None  # type: ignore[assignment]
        print("libhfagent.interpreter._embedding is missing: grammar only")
    encoder = None
    if load_encoder is not None:
        if model_status(cache, verify=False).prepared is None:
            try:
                from _encoders import ensure_prepared

                print(f"preparing the embedded model in {cache} …")
                ensure_prepared(cache)
            except ImportError:
                print("benchmarks/_encoders.py is missing: cannot prepare the model")
        encoder = load_encoder(config)
    print(f"encoder: {'ONNX int8, 1 thread' if encoder is not None else 'absent'}")

    dev, test = load("dev"), load("test")
    counts = Counter(r["intent"] for r in dev + test)
    print(
        f"evaluation set: dev {len(dev)}, test {len(test)} requests; "
        f"{len(counts)} intents, fewest {min(counts.values())}"
    )
    grammar = Interpreter(config, clock=lambda: NOW, encoder=None, units=None)
    variants: dict[str, Interpreter] = {"grammar": grammar}
    if encoder is not None:
        model = Interpreter(config, clock=lambda: NOW, encoder=encoder, units=None)
        model._ranker.weights = MODEL_ONLY
        combined = Interpreter(config, clock=lambda: NOW, encoder=encoder, units=None)
        if args.fit:
            print("fitting on dev:")
            fitted = fit(combined, dev)
            grammar._ranker.weights = fitted["grammar"]
            model._ranker.weights = fitted["model"]
            combined._ranker.weights = fitted["combined"]
        variants["model"] = model
        variants["combined"] = combined

    results: dict[str, dict[str, Any]] = {}
    for split, rows in (("dev", dev), ("test", test)):
        print(f"\n{split}:")
        for name, interp in variants.items():
            results[f"{split}/{name}"] = r = evaluate(interp, rows)
            _print_eval(name, r)
    best = "combined" if "combined" in variants else "grammar"
    for split in ("dev", "test"):
        r = results[f"{split}/{best}"]
        print(f"\n{split} per intent ({best}):")
        for intent, acc in r["per_intent"].items():
            print(f"  {intent:20} {acc * 100:6.1f} %")
        print(
            f"{split} confusions (expected → got): "
            + (", ".join(f"{a}→{b} ×{n}" for (a, b), n in r["confusions"]) or "none")
        )
    if "combined" in variants:
        print("\nablation (intent accuracy, dev / test):")
        for name in ("grammar", "model", "combined"):
            print(
                f"  {name:9} {results[f'dev/{name}']['intent'] * 100:6.2f} % / "
                f"{results[f'test/{name}']['intent'] * 100:6.2f} %"
            )

    texts = [r["request"] for r in dev + test]
    print(f"\nend-to-end latency of Interpreter.interpret, one core ({args.requests} requests):")
    base = None
    for name in ("grammar", "combined"):
        if name not in variants:
            continue
        # A fresh interpreter: nothing of the evaluation above is cached.
        fresh = Interpreter(
            config,
            clock=lambda: NOW,
            encoder=encoder if name == "combined" else None,
            units=None,
            weights=variants[name]._ranker.weights,
        )
        p50, p95 = latency(fresh.interpret, texts, args.requests)
        base = base or p50
        print(f"  {name:9} p50 {p50:6.3f} ms   p95 {p95:6.3f} ms   ({p50 / base:.2f} x grammar)")
    print(f"  torch imported on the request path: {'yes' if 'torch' in sys.modules else 'no'}")

    if not args.no_encoders:
        try:
            from _encoders import _print as print_encoders
            from _encoders import compare
        except ImportError:
            print("\nbenchmarks/_encoders.py is missing: no torch/ONNX encoder comparison")
        else:
            print("\nencoder (same run):")
            print_encoders(compare(cache, requests=min(args.requests, 300)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
