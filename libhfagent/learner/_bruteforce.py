"""SSH brute force: failed attempts per source address within a sliding window.

:class:`BruteForceDetector` is fed :class:`~libhfagent.observer._auth.AuthEvent`
values in log order and reports a source as soon as it has made ``max_retry``
failed attempts within ``find_time`` seconds -- fail2ban's ``maxretry`` and
``findtime``, with its defaults (5 within 600 s).

sshd writes several lines for one attempt; the detector counts the attempt,
not the lines.  Lines are tied to their connection by the sshd process id (and
the logging host, when lines of several machines are mixed), as described in
:meth:`BruteForceDetector.feed`.  It is pure and streaming: no I/O, constant
work per event, and memory bounded by the window and by ``max_sources``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime

import attrs

from ..observer._auth import AuthEvent

__all__ = ["BruteForceDetector", "Offender"]

# Categories of the lines that announce an attempt before sshd's "Failed ..." line.
_ANNOUNCE = {
    "invalid_user": "user",
    "not_allowed": "user",
    "user_change": "user",
    "root_refused": "root",
    "tcp_wrappers": "tcp_wrappers",
    "pam": "pam",
}
# Closing lines that say an authentication was attempted (a user was named, or
# authentication failed), as opposed to a bare close.
_ENDINGS_WITH_ATTEMPT = frozenset({"too_many", "max_attempts", "auth_fail"})
_ENDINGS = frozenset(
    {"too_many", "max_attempts", "auth_fail", "closed", "reset", "disconnected"}
    | {"received_disconnect"}
)


@attrs.frozen(slots=True)
class Offender:
    """A source address that crossed the threshold.

    Attributes:
        ip: The source address, as :class:`AuthEvent` gives it.
        failures: The failed attempts counted from ``first`` to ``last``.
        first: The first failure of the window in which the source crossed the threshold.
        last: The latest failure counted.
    """

    ip: str
    failures: int
    first: datetime
    last: datetime


class _Connection:
    """What one sshd connection (one pid) has logged so far."""

    __slots__ = (
        "counted",
        "endings",
        "held_keys",
        "held_pam",
        "hostless",
        "ip",
        "last",
        "open",
        "succeeded",
    )

    def __init__(self, ip: str | None, last: float) -> None:
        self.ip = ip
        self.last = last
        self.counted = 0  # attempts counted for this connection
        self.open: set[str] = set()  # categories of the announced, not yet "Failed", attempt
        self.held_pam: list[tuple[str | None, str | None]] = []  # (user, rhost) of pam_* lines
        self.held_keys = 0  # rejected public keys of an existing user
        self.hostless = 0  # attempts counted before the address was known
        self.succeeded = False
        self.endings: set[str] = set()

    def busy(self) -> bool:
        return bool(
            self.counted
            or self.open
            or self.held_pam
            or self.held_keys
            or self.endings
            or self.succeeded
        )


class _Source:
    __slots__ = ("entries", "last", "window")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int, datetime]] = deque()
        self.window = 0
        self.last = 0.0


class BruteForceDetector:
    """Counts failed SSH authentication attempts per source and reports offenders.

    What counts as one failed attempt, per source address:

    * a ``Failed <method>`` line (``password``, ``keyboard-interactive``,
      ``hostbased``...), for an existing or an unknown user;
    * a line that announces an attempt: ``Invalid user``, ``User ... not allowed
      because``, ``ROOT LOGIN REFUSED``, a tcp-wrappers refusal, a change of user
      name within a connection, sshd's ``error: PAM: Authentication failure``.
      The ``Failed`` line that follows on the same connection is the same attempt
      and is not counted again; a second announcement of the same kind before it
      is a new attempt;
    * ``pam_unix(sshd:auth): authentication failure`` (any ``pam_*`` module) is
      held: the ``Failed`` line that follows counts the attempt once; a success
      for *another* user, a failure for another user, or the connection ending
      without a ``Failed`` line count the held ones; a success for the *same*
      user drops them (a stack of PAM modules where one failed and the next
      succeeded);
    * rejected public keys of an existing user (``Failed publickey for U`` or
      ``Failed none for U``) are not failures: clients offer their keys in turn.
      If the connection then ends without a login (``Too many authentication
      failures``, a close before authentication) they count as one attempt;
    * a connection that ends before logging in with a line that says an
      authentication was attempted (``maximum authentication attempts
      exceeded``, ``Too many authentication failures``, ``Received disconnect
      ...: 3: ... Auth fail``, ``Connection closed by``/``Disconnected from``
      ``authenticating``/``invalid user U``) counts as one attempt when nothing
      was counted for it before; otherwise it is the end of attempts already
      counted.  Bare closes (``Connection closed by H [preauth]``, ``Received
      disconnect ...: 11: Bye Bye``) and probes (``Did not receive
      identification string``, ``Unable to negotiate``) never count.
    * ``message repeated N times: [ ... ]`` is the line N times.

    Lines are tied to a connection by ``(log_host, pid)``.  A line without an
    address (``Disconnecting: Too many authentication failures for root``) counts
    for the address the connection logged before or after it (``Connection
    from``, the close).  A ``Connection from`` line, a line other than a close or
    a probe after a close, or a second closing line of the same form, starts a
    new connection on the same pid (the pid was reused).  Without a pid, lines
    cannot be tied together: failures and announcements count one each, and
    ``pam_*`` lines, rejected keys and closes are ignored.

    The window slides with the latest time fed (times should come in log order):
    a failure stays in it while it is at most ``find_time`` seconds older.  A
    source is reported once when its count in the window reaches ``max_retry``;
    it is reported again only after its count has dropped below ``max_retry``
    and reached it again.  With ``ignore_successful``, a source that logged in
    (``Accepted ...``) is never reported afterwards and its offender entry is
    dropped.

    Memory: per source at most ``max_retry`` window entries; sources and
    connections idle for longer than ``find_time`` are forgotten; at most
    ``max_sources`` sources, connections, offenders and successful sources are
    remembered, the least recently active going first.

    Args:
        max_retry: Failed attempts within the window that make an offender (>= 1).
        find_time: The window, in seconds (> 0).
        ignore_successful: Never report a source that logged in successfully.
        max_sources: The most sources, connections, offenders and successful
            sources remembered at once (>= 1).

    Raises:
        ValueError: When an argument is out of range.
    """

    def __init__(
        self,
        *,
        max_retry: int = 5,
        find_time: float = 600.0,
        ignore_successful: bool = False,
        max_sources: int = 100_000,
    ) -> None:
        if isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 1:
            raise ValueError(f"max_retry: expected an integer of at least 1, got {max_retry!r}")
        if not isinstance(find_time, int | float) or not find_time > 0:
            raise ValueError(f"find_time: expected a positive number of seconds, got {find_time!r}")
        if isinstance(max_sources, bool) or not isinstance(max_sources, int) or max_sources < 1:
            raise ValueError(f"max_sources: expected an integer of at least 1, got {max_sources!r}")
        self.max_retry = max_retry
        self.find_time = float(find_time)
        self.ignore_successful = ignore_successful
        self.max_sources = max_sources
        self._failures = 0
        self._clock = float("-inf")
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._connections: OrderedDict[tuple[str | None, int], _Connection] = OrderedDict()
        self._offenders: OrderedDict[str, Offender] = OrderedDict()
        self._successful: OrderedDict[str, None] = OrderedDict()
        self._flag: Offender | None = None
        self._last: list[tuple[str, int]] = []

    @property
    def failures(self) -> int:
        """Failed attempts counted so far, from every source."""
        return self._failures

    def offenders(self) -> list[Offender]:
        """Return the sources reported so far (and still remembered), oldest report first.

        Each entry's ``failures`` are those of the window that first reported
        it plus every failure counted from it since, up to ``last``.
        """
        return list(self._offenders.values())

    def last_counted(self) -> list[tuple[str, int]]:
        """Return the ``(ip, attempts)`` counted by the latest :meth:`feed`, in order.

        Usually empty or one pair; a line that ties earlier lines to an address
        (a close after ``Disconnecting: Too many authentication failures``) or
        releases held PAM failures can count several.
        """
        return list(self._last)

    def feed(
        self, time: datetime, event: AuthEvent, *, log_host: str | None = None
    ) -> Offender | None:
        """Take one event, in log order.

        Args:
            time: When the line was logged.
            event: The parsed message.
            log_host: The host that logged the line, when lines of several hosts
                are mixed (pids are only unique per host).

        Returns:
            The offender when this event makes its source cross the threshold,
            else ``None``.
        """
        now = time.timestamp()
        if now > self._clock:
            self._clock = now
            self._expire()
        self._flag = None
        self._last = []
        if event.pid is None:
            self._standalone(time, event)
        else:
            self._connected(time, now, event, event.pid, log_host)
        return self._flag

    # -- connections ---------------------------------------------------------------------------

    def _standalone(self, time: datetime, event: AuthEvent) -> None:
        form = event.form
        if event.kind == "success":
            self._succeeded(event.ip)
        elif (
            form in _ANNOUNCE
            or form in ("failed_invalid", "auth_fail")
            or (form == "failed" and event.method not in ("publickey", "none"))
        ):
            self._count(time, event.ip, event.count)

    def _connected(
        self, time: datetime, now: float, event: AuthEvent, pid: int, log_host: str | None
    ) -> None:
        key = (log_host, pid)
        conn = self._connections.get(key)
        kind, form, n = event.kind, event.form, event.count
        ending = form in _ENDINGS
        if (
            conn is None
            or (kind == "connect" and conn.busy())
            # After the connection ended, a line that is not about its end (or the
            # same closing line again) belongs to a new process with the same pid.
            or (conn.endings and (form in conn.endings if ending else kind != "probe"))
        ):
            conn = _Connection(None, now)
            self._connections[key] = conn
            self._connections.move_to_end(key)
            if len(self._connections) > self.max_sources:
                self._connections.popitem(last=False)
        else:
            conn.last = now
            self._connections.move_to_end(key)
        if ending:
            conn.endings.add(form)
        if event.ip is not None and conn.ip is None and form != "pam_module":
            conn.ip = event.ip
            if conn.hostless:
                hostless, conn.hostless = conn.hostless, 0
                self._count(time, conn.ip, hostless)
        if kind == "success":
            self._success_on(time, conn, event)
        elif form in _ANNOUNCE:
            self._announce(time, conn, event, _ANNOUNCE[form])
        elif form == "failed" and event.method == "none":
            pass  # an existing user's client asking which methods it may use
        elif form == "failed" and event.method == "publickey":
            conn.held_keys += n
        elif form == "failed_invalid" and event.method == "none":
            self._announce(time, conn, event, "none")
        elif form in ("failed", "failed_invalid"):
            self._failed(time, conn, event)
        elif form == "pam_module":
            self._hold_pam(time, conn, event)
        elif form in _ENDINGS:
            self._ending(time, conn, event)

    def _attempt(self, time: datetime, conn: _Connection, ip: str | None, n: int) -> None:
        """Count ``n`` attempts of a connection, for ``ip`` or the connection's address."""
        conn.counted += n
        where = ip if ip is not None else conn.ip
        if where is None:
            conn.hostless += n
        else:
            self._count(time, where, n)

    def _announce(self, time: datetime, conn: _Connection, event: AuthEvent, category: str) -> None:
        n = event.count
        if conn.open and category not in conn.open:
            conn.open.add(category)  # another line about the attempt already counted
            n -= 1
        else:
            conn.open = {category}
        if n > 0:
            self._attempt(time, conn, event.ip, n)

    def _failed(self, time: datetime, conn: _Connection, event: AuthEvent) -> None:
        n = event.count
        if conn.open:
            conn.open = set()
            n -= 1  # the attempt was counted when it was announced
        del conn.held_pam[: event.count]  # the PAM view of the same attempts
        if n > 0:
            self._attempt(time, conn, event.ip, n)

    def _hold_pam(self, time: datetime, conn: _Connection, event: AuthEvent) -> None:
        user = event.user
        if user is not None and any(u is not None and u != user for u, _ in conn.held_pam):
            self._release_pam(time, conn)  # another user on the same connection
        conn.held_pam.extend([(user, event.ip)] * min(event.count, self.max_retry))

    def _release_pam(self, time: datetime, conn: _Connection) -> None:
        for _, rhost in conn.held_pam:
            self._attempt(time, conn, conn.ip if conn.ip is not None else rhost, 1)
        conn.held_pam.clear()

    def _release_held(self, time: datetime, conn: _Connection) -> None:
        self._release_pam(time, conn)
        if conn.held_keys:
            conn.held_keys = 0
            self._attempt(time, conn, None, 1)

    def _success_on(self, time: datetime, conn: _Connection, event: AuthEvent) -> None:
        if any(u is not None and u != event.user for u, _ in conn.held_pam):
            self._release_pam(time, conn)
        conn.held_pam.clear()
        conn.held_keys = 0
        conn.open = set()
        conn.succeeded = True
        self._succeeded(event.ip if event.ip is not None else conn.ip)

    def _ending(self, time: datetime, conn: _Connection, event: AuthEvent) -> None:
        if conn.succeeded:
            return
        self._release_held(time, conn)
        attempted = event.form in _ENDINGS_WITH_ATTEMPT or event.user is not None
        if attempted and conn.counted == 0:
            self._attempt(time, conn, event.ip, 1)
        conn.open = set()

    # -- sources -------------------------------------------------------------------------------

    def _succeeded(self, ip: str | None) -> None:
        if ip is None or not self.ignore_successful:
            return
        self._successful[ip] = None
        self._successful.move_to_end(ip)
        if len(self._successful) > self.max_sources:
            self._successful.popitem(last=False)
        self._offenders.pop(ip, None)
        self._sources.pop(ip, None)

    def _count(self, time: datetime, ip: str | None, n: int) -> None:
        if ip is None or n <= 0:
            return
        self._failures += n
        self._last.append((ip, n))
        if self.ignore_successful and ip in self._successful:
            return
        now = time.timestamp()
        offender = self._offenders.get(ip)
        if offender is not None:
            self._offenders[ip] = attrs.evolve(
                offender, failures=offender.failures + n, last=max(offender.last, time)
            )
        source = self._sources.get(ip)
        if source is None:
            source = self._sources[ip] = _Source()
            if len(self._sources) > self.max_sources:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(ip)
        source.last = max(source.last, now)
        entries = source.entries
        horizon = self._clock - self.find_time
        while entries and entries[0][0] < horizon:
            source.window -= entries.popleft()[1]
        before = source.window
        entries.append((now, n, time))
        source.window += n
        if before < self.max_retry <= source.window:
            first = min(t for _, _, t in entries)
            flagged = Offender(ip, source.window, first, time)
            self._flag = flagged
            if offender is None:
                self._offenders[ip] = flagged
                if len(self._offenders) > self.max_sources:
                    self._offenders.popitem(last=False)
        # Past the threshold, older entries no longer matter for the next crossing.
        while len(entries) > self.max_retry:
            source.window -= entries.popleft()[1]

    def _expire(self) -> None:
        horizon = self._clock - self.find_time
        while self._sources:
            ip, source = next(iter(self._sources.items()))
            if source.last >= horizon:
                break
            del self._sources[ip]
        while self._connections:
            key, conn = next(iter(self._connections.items()))
            if conn.last >= horizon:
                break
            del self._connections[key]
