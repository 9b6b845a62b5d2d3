"""SSH authentication failures: per-line accuracy on labelled fixtures, offenders and speed.

The data is read in place from ``../shared/data/ssh`` and
``../shared/data/loghub2k/OpenSSH`` relative to the repository (``--data``,
``--loghub``); nothing from it is copied into the repository.  The fail2ban
fixtures are GPL-2.0+ test data (fail2ban/fail2ban), the sshguard cases
ISC-style (SSHGuard/sshguard), Loghub research-only (logpai/loghub).

1. **Per-line accuracy.**  Every labelled line goes through
   ``parse_syslog_line`` (journal lines: ``host ident[pid]: message``),
   ``parse_auth_message`` and one ``BruteForceDetector`` per fixture, in file
   order.  Two verdicts per line, each "a failure, and from which host" (right
   only with the right host):

   * *counted*: the detector counted an attempt on this line
     (``last_counted()``) -- fail2ban's notion, per attempt and per connection;
   * *hostile*: the parser alone says failure, invalid user, refused, probe, or
     a close before authentication other than the client's own ``Received
     disconnect`` -- sshguard's notion, which scores scanners too.

   fail2ban entries are scored for its default mode (``normal``); entries that
   only apply in the ``ddos``/``extra``/``aggressive`` modes (by their block's
   ``filterOptions`` or their ``constraint``) are listed separately, against
   the ``aggressive`` mode, and are not failures in the default mode.  sshguard
   cases (its SSH section only) are independent lines, each with a fresh
   detector; ``*`` means "not an attack".

2. **Offenders** at 5 failures within 600 s on Loghub's OpenSSH_2k, with the
   failure counts per source, next to a plain regex count of
   ``Failed password .* from (\\S+)`` lines.

3. **Speed**: parse + feed per line, in µs (median, p99, max, and on the lines
   that raised an alert: the detection latency once the line is read), and
   lines/s, against the regex count over the same lines, best of ``--repeat``.

Run: ``.venv/bin/python benchmarks/ssh.py [--data DIR] [--loghub FILE] [--repeat K]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import attrs

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from libhfagent.learner._bruteforce import BruteForceDetector  # noqa: E402
from libhfagent.observer._auth import AuthEvent, parse_auth_message  # noqa: E402
from libhfagent.observer._syslog import parse_syslog_line  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "ssh"
DEFAULT_LOGHUB = REPO.parent / "shared" / "data" / "loghub2k" / "OpenSSH" / "OpenSSH_2k.log"
UTC = dt.UTC
NOW = dt.datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
_JOURNAL = re.compile(r"(\S+) ([^\s\[]+)\[(\d+)\]: (.*)")
_MODE_CONSTRAINT = re.compile(r"opts\.get\('mode'\) (==|!=) '(\w+)'")
_BASELINE = re.compile(r"Failed password .* from (\S+)")
_HOSTILE_KINDS = frozenset({"failure", "invalid_user", "refused", "probe"})


@attrs.frozen
class Case:
    """One labelled line."""

    line: str
    match: bool
    host: str | None
    modes: frozenset[str]  # the filter modes under which the label applies
    lineno: int


@attrs.define
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    misses: list[str] = attrs.Factory(list)
    alarms: list[str] = attrs.Factory(list)

    def add(self, case: Case, predicted: set[str], label: str) -> None:
        right = case.match and bool(predicted) and (case.host is None or case.host in predicted)
        if right:
            self.tp += 1
            return
        if predicted:
            self.fp += 1
            self.alarms.append(f"  {label}:{case.lineno} said {sorted(predicted)}: {case.line}")
        if case.match:
            self.fn += 1
            want = case.host or "(any host)"
            self.misses.append(f"  {label}:{case.lineno} wanted {want}: {case.line}")
        elif not predicted:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


# -- fixtures -------------------------------------------------------------------------------------


def _constraint_holds(constraint: str | None, mode: str) -> bool | None:
    if not constraint:
        return True
    rest = constraint.replace("name == 'sshd'", "True").replace('name == "sshd"', "True")
    m = _MODE_CONSTRAINT.search(rest)
    if m is not None:
        holds = (mode == m.group(2)) == (m.group(1) == "==")
        rest = rest[: m.start()] + str(holds) + rest[m.end() :]
    parts = [p.strip() for p in rest.split(" and ")]
    if all(p in ("True", "False") for p in parts):
        return all(p == "True" for p in parts)
    return None  # not understood


def read_fail2ban(path: Path) -> list[Case]:
    """Read a fail2ban ``testlog``: ``# failJSON`` lines, each followed by its log line."""
    cases: list[Case] = []
    modes = frozenset({"normal"})
    pending: dict[str, object] | None = None
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if raw.startswith("# filterOptions:"):
            options = json.loads(raw.split(":", 1)[1])
            if isinstance(options, dict):
                options = [options]
            modes = frozenset(str(o.get("mode", "normal")) for o in options)
            continue
        if raw.startswith("# failJSON:"):
            pending = json.loads(raw.split(":", 1)[1])
            continue
        if raw.startswith("#") or not raw.strip() or pending is None:
            continue
        entry, pending = pending, None
        constraint = entry.get("constraint")
        applies = frozenset(
            m
            for m in modes | ({"aggressive"} if modes & {"ddos", "extra"} else set())
            if _constraint_holds(str(constraint) if constraint else None, m)
        )
        host = entry.get("host", entry.get("ip4", entry.get("ip6")))
        cases.append(
            Case(
                raw, bool(entry.get("match")), None if host is None else str(host), applies, lineno
            )
        )
    return cases


def read_sshguard(path: Path) -> list[tuple[Case, str]]:
    """Read the SSH section of sshguard's parser tests: message / expected / ``M`` triples."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#### SSH {{{"))
    body: list[tuple[int, str]] = []
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.startswith("# }}}") or line.startswith("####"):
            break
        if line.strip() and not line.startswith("#"):
            body.append((i + 1, line))
    cases: list[tuple[Case, str]] = []
    for k in range(0, len(body) - 2, 3):
        (lineno, message), (_, expected), (_, marker) = body[k : k + 3]
        if marker != "M":
            raise SystemExit(f"sshguard tests: expected 'M' after line {lineno}")
        fields = expected.split()
        attack = fields[0] == "100"
        cases.append(
            (Case(message, attack, fields[1] if attack else None, frozenset({"normal"}), lineno),
             expected)
        )  # fmt: skip
    return cases


def event_of(line: str, journal: bool) -> AuthEvent | None:
    if journal:
        m = _JOURNAL.fullmatch(line)
        if m is None:
            return None
        return parse_auth_message(m.group(2), int(m.group(3)), m.group(4))
    rec = parse_syslog_line(line, now=NOW, tz=UTC)
    if rec is None:
        return parse_auth_message("sshd", None, line)  # a bare message
    app = rec.app if rec.app.startswith("sshd") else "sshd"  # sshguard's "auth.info:" prefix
    return parse_auth_message(app, rec.pid, rec.message)


def hostile(event: AuthEvent | None) -> set[str]:
    if event is None or event.ip is None:
        return set()
    if event.kind in _HOSTILE_KINDS or (
        event.kind == "preauth_close" and event.form != "received_disconnect"
    ):
        return {event.ip}
    return set()


def score_stream(
    cases: list[Case], mode: str, journal: bool, label: str
) -> tuple[Score, Score, list[tuple[Case, set[str]]]]:
    """Feed the cases that apply in ``mode`` to one detector, in order; score both verdicts."""
    detector = BruteForceDetector()
    counted, hostile_score = Score(), Score()
    verdicts: list[tuple[Case, set[str]]] = []
    clock = dt.datetime(2026, 1, 1, tzinfo=UTC)
    for i, case in enumerate(c for c in cases if mode in c.modes):
        event = event_of(case.line, journal)
        if event is not None:
            detector.feed(clock + dt.timedelta(seconds=i), event)
            predicted = {ip for ip, _ in detector.last_counted()}
        else:
            predicted = set()
        counted.add(case, predicted, label)
        hostile_score.add(case, hostile(event), label)
        verdicts.append((case, predicted))
    return counted, hostile_score, verdicts


def fixtures(data: Path) -> list[str]:
    out: list[str] = []
    header = (
        f"{'fixture':44} {'lines':>5} {'fail':>4}  {'counted P / R':>15}  {'hostile P / R':>15}"
    )
    out += [header, "-" * len(header)]
    details: list[str] = [
        "counted: the detector counted a failed attempt on the line (fail2ban's notion);",
        "hostile: the parser alone calls it a failure, refusal, probe or preauth close "
        "(sshguard's notion, which scores scanners too).",
        "",
    ]
    for name, journal in (("fail2ban_sshd_testlog.txt", False),
                          ("fail2ban_sshd-journal_testlog.txt", True)):  # fmt: skip
        cases = read_fail2ban(data / name)
        counted, hostile_score, _ = score_stream(cases, "normal", journal, name)
        default = [c for c in cases if "normal" in c.modes]
        out.append(
            f"{name + ' (default)':44} {len(default):5d} {sum(c.match for c in default):4d}  "
            f"{counted.precision:6.1%} / {counted.recall:6.1%}  "
            f"{hostile_score.precision:6.1%} / {hostile_score.recall:6.1%}"
        )
        details.append(f"{name}, default mode, counted -- misses and false alarms:")
        details += counted.misses + counted.alarms or ["  none"]
        # Entries that only apply in other modes, against the aggressive mode.
        _, _, verdicts = score_stream(cases, "aggressive", journal, name)
        other = [(c, p) for c, p in verdicts if "normal" not in c.modes]
        agree = sum(
            (c.match and (c.host is None or c.host in p)) or (not c.match and not p)
            for c, p in other
        )
        details.append(
            f"{name}: {len(other)} entries apply only in ddos/extra/aggressive modes "
            f"(not failures in the default mode); the detector counts "
            f"{sum(bool(p) for _, p in other)}, agrees with aggressive mode on {agree}:"
        )
        for c, p in other:
            said = ",".join(sorted(p)) if p else "-"
            want = (c.host or "yes") if c.match else "no"
            details.append(f"  {c.lineno:4d} aggressive={want:16} counted={said:16} {c.line[:90]}")
    guard = read_sshguard(data / "sshguard_parser_tests.txt")
    counted_g, hostile_g = Score(), Score()
    for case, _ in guard:
        event = event_of(case.line, False)
        detector = BruteForceDetector()
        predicted: set[str] = set()
        if event is not None:
            detector.feed(NOW, event)
            predicted = {ip for ip, _ in detector.last_counted()}
        counted_g.add(case, predicted, "sshguard")
        hostile_g.add(case, hostile(event), "sshguard")
    out.append(
        f"{'sshguard SSH section':44} {len(guard):5d} {sum(c.match for c, _ in guard):4d}  "
        f"{counted_g.precision:6.1%} / {counted_g.recall:6.1%}  "
        f"{hostile_g.precision:6.1%} / {hostile_g.recall:6.1%}"
    )
    details.append("sshguard, hostile -- misses and false alarms:")
    details += hostile_g.misses + hostile_g.alarms or ["  none"]
    details.append(
        f"sshguard, counted: {len(counted_g.misses)} attacks not counted as attempts "
        "(probes and bare closes are attacks for sshguard, not failed logins)"
    )
    return [*out, "", *details]


# -- Loghub ---------------------------------------------------------------------------------------


def loghub(path: Path, repeat: int) -> list[str]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    now = dt.datetime(2017, 12, 31, tzinfo=UTC)
    out: list[str] = []

    def run() -> tuple[BruteForceDetector, list[float], list[float], float]:
        detector = BruteForceDetector(max_retry=5, find_time=600.0)
        per_line: list[float] = []
        alert_times: list[float] = []
        clock = time.perf_counter_ns
        start = clock()
        for line in lines:
            t0 = clock()
            rec = parse_syslog_line(line, now=now, tz=UTC)
            flagged = None
            if rec is not None:
                event = parse_auth_message(rec.app, rec.pid, rec.message)
                if event is not None:
                    flagged = detector.feed(rec.time, event)
            t1 = clock()
            per_line.append((t1 - t0) / 1000)
            if flagged is not None:
                alert_times.append((t1 - t0) / 1000)
        return detector, per_line, alert_times, (clock() - start) / 1e9

    def baseline() -> tuple[Counter[str], float]:
        start = time.perf_counter()
        counts: Counter[str] = Counter()
        search = _BASELINE.search
        for line in lines:
            m = search(line)
            if m is not None:
                counts[m.group(1)] += 1
        return counts, time.perf_counter() - start

    best = min((run() for _ in range(repeat)), key=lambda r: r[3])
    base = min((baseline() for _ in range(repeat)), key=lambda r: r[1])
    detector, per_line, alert_times, elapsed = best
    counts, base_elapsed = base
    offenders = detector.offenders()
    out.append(
        f"Loghub OpenSSH_2k ({len(lines)} lines): {detector.failures} failed attempts counted, "
        f"{len(offenders)} offenders at 5 / 600 s; the regex counts {sum(counts.values())} "
        f"'Failed password' lines from {len(counts)} sources"
    )
    header = f"  {'source':40} {'failures':>8}  {'first':19}  {'last':19}  {'regex':>5}"
    out += [header, "  " + "-" * (len(header) - 2)]
    for o in sorted(offenders, key=lambda o: (-o.failures, o.ip)):
        out.append(
            f"  {o.ip:40} {o.failures:8d}  {o.first:%m-%d %H:%M:%S}        "
            f"{o.last:%m-%d %H:%M:%S}        {counts.get(o.ip, 0):5d}"
        )
    quiet = sorted(set(counts) - {o.ip for o in offenders})
    if quiet:
        out.append(f"  regex sources not flagged (fewer than 5 in 600 s): {', '.join(quiet)}")
    per_line.sort()
    p99 = per_line[int(0.99 * (len(per_line) - 1))]
    out += [
        "",
        f"{'speed (best of ' + str(repeat) + ')':34} {'lines/s':>10} {'µs/line med':>11} "
        f"{'p99':>7} {'max':>7}",
        f"{'parse + feed':34} {len(lines) / elapsed:10,.0f} {statistics.median(per_line):11.2f} "
        f"{p99:7.2f} {per_line[-1]:7.2f}",
        f"{'regex count (baseline)':34} {len(lines) / base_elapsed:10,.0f} "
        f"{base_elapsed / len(lines) * 1e6:11.2f}",
        f"ratio parse+feed / baseline time: {elapsed / base_elapsed:.1f}x",
    ]
    if alert_times:
        out.append(
            f"detection latency once the line is read (parse + feed of the {len(alert_times)} "
            f"lines that raised an alert): median {statistics.median(alert_times):.1f} µs, "
            f"max {max(alert_times):.1f} µs"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the ssh fixtures")
    parser.add_argument("--loghub", type=Path, default=DEFAULT_LOGHUB, help="OpenSSH_2k.log")
    parser.add_argument("--repeat", type=int, default=5, help="speed runs (best is kept)")
    args = parser.parse_args(argv)
    for p in (args.data / "fail2ban_sshd_testlog.txt", args.loghub):
        if not p.exists():
            parser.error(f"{p} not found (see --data / --loghub)")
    print("\n".join(fixtures(args.data)))
    print()
    print("\n".join(loghub(args.loghub, max(1, args.repeat))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
