from __future__ import annotations

import math


class AnomalyDetector:
    def __init__(self) -> None:
        self.m = 0.0; self.v = 1.0; self.n = 0
    def update(self, timestamp: float, value: float) -> float:
        self.n += 1
        z = abs(value - self.m) / math.sqrt(self.v + 1e-12)
        a = 0.01
        d = value - self.m
        self.m += a * d
        self.v = (1 - a) * (self.v + a * d * d)
        return 0.0 if self.n < 10 else math.erf(z / 3)
