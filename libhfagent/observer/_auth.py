"""OpenSSH and PAM authentication messages, as sshd writes them to syslog or the journal.

Pure functions: a message in, a value (or ``None``) out. They never raise on bad input.

:func:`parse_auth_message` takes the message part of a log line (what follows
``sshd[123]:``), with or without sshd's ``error:``/``fatal:`` prefix, its
``[preauth]`` suffix and syslog's ``message repeated N times: [ ... ]``
wrapper, and returns what happened, with the remote address as sshd wrote it.

Each message maps to a ``kind`` and a ``form`` (which message it was):

============== =================== =================================================
kind           form                message (``U`` user, ``H`` address, ``P`` port)
============== =================== =================================================
failure        ``failed``          ``Failed <method> for U from H port P ssh2``
failure        ``failed_invalid``  ``Failed <method> for invalid user U from H ...``
failure        ``pam``             ``error: PAM: Authentication failure for U from H``
                                   (also ``... error``, ``User not known ...``,
                                   ``unknown user for illegal user U``)
failure        ``pam_module``      ``pam_unix(sshd:auth): authentication failure;
                                   ... rhost=H user=U`` (any ``pam_*`` module)
failure        ``auth_fail``       ``Received disconnect from H: 3: ...: Auth fail``
invalid_user   ``invalid_user``    ``Invalid user U from H [port P]``
refused        ``not_allowed``     ``User U from H not allowed because ...``
                                   (``User U not allowed because ...``: no address)
refused        ``root_refused``    ``ROOT LOGIN REFUSED FROM H``
refused        ``tcp_wrappers``    ``refused connect from NAME (H)``
refused        ``user_change``     ``Disconnecting invalid user U H port P: Change of
                                   username or service not allowed: ...``
preauth_close  ``max_attempts``    ``maximum authentication attempts exceeded for U
                                   from H port P ssh2``
preauth_close  ``too_many``        ``Disconnecting[ ... user U H port P]: Too many
                                   authentication failures [for U]``
preauth_close  ``closed``          ``Connection closed by [authenticating|invalid
                                   user U] H [port P] [preauth]``
preauth_close  ``reset``           ``Connection reset by [... user U] H ... [preauth]``
preauth_close  ``disconnected``    ``Disconnected from [... user U] H port P [preauth]``
preauth_close  ``received_disconnect`` ``Received disconnect from H port P:11: ...
                                   [preauth]`` (and code 14, no methods available)
probe          ``no_ident``        ``Did not receive identification string from H``
probe          ``bad_version``     ``Bad protocol version identification ... from H``
probe          ``negotiate``       ``Unable to negotiate with H port P: no matching
                                   ... found`` (no address: ``Unable to negotiate a
                                   key exchange method``, ``no matching mac found``)
probe          ``banner``          ``banner exchange: Connection from H port P: ...``
probe          ``dispatch``        ``ssh_dispatch_run_fatal: Connection from H ...``
probe          ``timeout``         ``Timeout before authentication for H ...``
probe          ``penalty``         ``drop connection #N from [H]:P ... penalty: ...``
probe          ``kex``             ``kex_exchange_identification: ...`` (no address)
success        ``accepted``        ``Accepted <method> for U from H port P ssh2``
connect        ``connect``         ``Connection from H port P on H port P``
============== =================== =================================================

A ``preauth_close`` is the end of a connection that never logged in: whether it
stands for a failed attempt depends on what the same connection logged before,
which is the brute-force detector's business (see
:class:`libhfagent.learner._bruteforce.BruteForceDetector`).  Closes without
``[preauth]`` and without an ``authenticating``/``invalid user`` part are the
end of ordinary sessions and return ``None``.

Addresses are returned as written, except that an IPv6 zone (``%eth0``) and
brackets are dropped, and an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``)
becomes the IPv4 address.  Host names (sshd with ``UseDNS yes``) are kept.

User names of unknown users are chosen by the client and may contain spaces and
text that looks like an address; where the line ends with the address the
parser anchors on the end, so such a name cannot move the address.
"""

from __future__ import annotations

import re
from typing import Literal

import attrs

__all__ = ["AuthEvent", "AuthKind", "parse_auth_message"]

AuthKind = Literal[
    "failure", "invalid_user", "refused", "preauth_close", "probe", "success", "connect"
]

_REPEATED = re.compile(r"message repeated (\d{1,9}) times: \[ ?(.*?)\]?\s*$", re.DOTALL)
_PREFIX = re.compile(
    r"(?:\[ID \d+ [\w.]+\] |kernel: ?\[ *\d+(?:\.\d+)?\]:? ?)?(?:(?:error|fatal): )?(PAM: )?"
)
_PREAUTH = " [preauth]"

# " from H[ port P][ on H2[ port P2]][ sshN]" followed by the end or sshd's ": info".
_FROM_CANDIDATE = re.compile(
    r" from (\S+?)(?: port (\d{1,5}))?(?: on \S+(?: port \d{1,5})?)?(?: (ssh\d?))?(?=$|: )"
)
_INVALID = re.compile(
    r"(?:[Ii]nvalid|[Ii]llegal) user (.*?) from (\S+?)(?: port (\d{1,5}))?"
    r"(?: on \S+(?: port \d{1,5})?)?(?: rdomain \S*)?$",
    re.DOTALL,
)
_NOT_ALLOWED = re.compile(r"User (.+) from (\S+) not allowed because .+$", re.DOTALL)
_NOT_ALLOWED_NO_HOST = re.compile(r"User (\S+) not allowed because .+$", re.DOTALL)
_ROOT = re.compile(r"ROOT LOGIN REFUSED (?:.* )?FROM (\S+?)(?: port (\d{1,5}))?$", re.DOTALL)
_TCP_WRAPPERS = re.compile(r"refused connect from \S+ \((\S+)\)$")
_PAM = re.compile(
    r"(?i:authentication (?:failure|error|failed)|user not known to the underlying "
    r"authentication module|unknown user) for (illegal user |invalid user )?(.*)"
    r" from (\S+?)(?: via \S+)?$",
    re.DOTALL,
)
_PAM_MODULE = re.compile(r"pam_[\w-]+\(sshd:auth\):\s+authentication failure;(.*)$", re.DOTALL)
_PAM_FIELD = re.compile(r"(\w+)=(\S*)")
_MAX_ATTEMPTS = re.compile(
    r"maximum authentication attempts exceeded for (invalid user )?(.*) from (\S+?)"
    r"(?: port (\d{1,5}))?(?: ssh\d?)?$",
    re.DOTALL,
)
_DISCONNECTING = re.compile(
    r"Disconnecting(?: (?:(?:authenticating|invalid) user (.*) )?(\S+) port (\d{1,5}))?: (.*)$",
    re.DOTALL,
)
_TOO_MANY = re.compile(r"Too many authentication failures(?: for (.+))?$", re.DOTALL)
_CLOSED = re.compile(
    r"(?:Connection (closed|reset) by|Disconnected from) "
    r"(?:((?:authenticating|invalid) user) (.*?) )?(\S+?)(?: port (\d{1,5}))?$",
    re.DOTALL,
)
_RECEIVED = re.compile(
    r"Received disconnect from (\S+)(?: port (\d{1,5}))?: ?(\d+): (.*)$", re.DOTALL
)
_AUTH_FAIL = re.compile(r".*: Auth fail$", re.DOTALL)
_NO_METHODS = re.compile(r"No (?:supported |more user )?authentication methods available", re.I)
_CONNECT = re.compile(
    r"Connection from (\S+?)(?: port (\d{1,5}))?(?: on \S+ port \d{1,5})?(?: rdomain .*)?$"
)
_NO_IDENT = re.compile(r"Did not receive identification string from (\S+?)(?: port (\d{1,5}))?$")
_BAD_VERSION = re.compile(
    r"Bad protocol version identification .* from (\S+?)(?: port (\d{1,5}))?$", re.DOTALL
)
_NEGOTIATE = re.compile(r"Unable to negotiate with (\S+?)(?: port (\d{1,5}))?: no matching ")
_CONNECTION_FROM = re.compile(
    r"(?:banner exchange|ssh_dispatch_run_fatal): Connection from "
    r"(?:(?:authenticating|invalid) user (.*) )?(\S+?) port (\d{1,5}): ",
    re.DOTALL,
)
_TIMEOUT = re.compile(
    r"Timeout before authentication for (?:connection from )?(\S+?)(?: port (\d{1,5}))?"
    r"(?: to .*)?$",
    re.DOTALL,
)
_PENALTY = re.compile(r"drop connection #\d+ from \[([^\]\s]+)\]:(\d{1,5}) on .* penalty: ")


@attrs.frozen(slots=True)
class AuthEvent:
    """One authentication-related message from sshd or PAM.

    Attributes:
        kind: What happened: ``failure`` (a failed authentication), ``invalid_user``
            (a login as a user that does not exist), ``refused`` (a user or address
            sshd refuses by configuration), ``preauth_close`` (a connection ended
            before logging in), ``probe`` (a connection that never started to
            authenticate: scanners, protocol mismatches), ``success`` (a login) or
            ``connect`` (a new connection, with ``LogLevel VERBOSE``).
        ip: The remote address (see the module docstring), or ``None`` when the
            message does not name one.
        user: The user name, or ``None`` when the message does not name one.
        port: The remote port, or ``None``.
        count: How many times the message was logged (``message repeated N times``).
        pid: The process id of the sshd that logged it, as given by the caller.
        method: The authentication method of ``Failed``/``Accepted`` messages
            (``password``, ``publickey``, ``keyboard-interactive/pam``, ``none``...),
            ``"pam"`` for PAM failures, else ``None``.
        form: Which message it was (the table in the module docstring).
    """

    kind: AuthKind
    ip: str | None
    user: str | None = None
    port: int | None = None
    count: int = 1
    pid: int | None = None
    method: str | None = None
    form: str = ""


def _host(token: str | None) -> str | None:
    if not token:
        return None
    if token[0] == "[" and token[-1] == "]":
        token = token[1:-1]
    if ":" in token:
        zone = token.find("%")
        if zone > 0:
            token = token[:zone]
        if token[:7].lower() == "::ffff:" and "." in token:
            token = token[7:]
    return token or None


def _port(text: str | None) -> int | None:
    return int(text) if text else None


def _failed_or_accepted(kind: AuthKind, text: str, pid: int | None, count: int) -> AuthEvent | None:
    # "Failed <method> for [invalid user ]<user> from <host> port <port> ssh2[: info]"
    method, sep, rest = text.partition(" for ")
    if not sep or " " in method:
        return None
    invalid = False
    for marker in ("invalid user ", "illegal user "):
        if rest.startswith(marker):
            invalid, rest = True, rest[len(marker) :]
            break
    else:
        if rest.startswith("<invalid username>"):
            invalid = True
    # The user comes first and may be chosen by the client: take the first
    # " from H ..." that ends the line or is followed by sshd's ": info".
    m = _FROM_CANDIDATE.search(" " + rest)
    if m is None:
        return None
    user: str | None = (" " + rest)[1 : m.start()]
    if user == "<invalid username>":
        user = None
    form = "accepted" if kind == "success" else "failed_invalid" if invalid else "failed"
    return AuthEvent(kind, _host(m.group(1)), user, _port(m.group(2)), count, pid, method, form)


def _pam_module(fields: str, pid: int | None, count: int) -> AuthEvent:
    values = dict(_PAM_FIELD.findall(fields))
    user = values.get("user") or values.get("ruser") or None
    return AuthEvent(
        "failure", _host(values.get("rhost")), user, None, count, pid, "pam", "pam_module"
    )


def _closing(text: str, preauth: bool, pid: int | None, count: int) -> AuthEvent | None:
    m = _CLOSED.match(text)
    if m is None:
        return None
    if m.group(2) is None and not preauth:
        return None  # the end of an ordinary session
    form = {"closed": "closed", "reset": "reset"}.get(m.group(1) or "", "disconnected")
    user = m.group(3) if m.group(2) is not None else None
    return AuthEvent(
        "preauth_close", _host(m.group(4)), user, _port(m.group(5)), count, pid, None, form
    )


def _disconnecting(text: str, pid: int | None, count: int) -> AuthEvent | None:
    m = _DISCONNECTING.match(text)
    if m is None:
        return None
    user, ip, port, reason = m.group(1), _host(m.group(2)), _port(m.group(3)), m.group(4)
    if reason.startswith("Change of username or service not allowed"):
        return AuthEvent("refused", ip, user, port, count, pid, None, "user_change")
    many = _TOO_MANY.match(reason)
    if many is None:
        return None
    return AuthEvent("preauth_close", ip, user or many.group(1), port, count, pid, None, "too_many")


def _received(text: str, preauth: bool, pid: int | None, count: int) -> AuthEvent | None:
    m = _RECEIVED.match(text)
    if m is None:
        return None
    ip, port, code, reason = _host(m.group(1)), _port(m.group(2)), m.group(3), m.group(4)
    if code == "3" and _AUTH_FAIL.match(reason):
        return AuthEvent("failure", ip, None, port, count, pid, None, "auth_fail")
    if preauth or _NO_METHODS.match(reason):
        return AuthEvent("preauth_close", ip, None, port, count, pid, None, "received_disconnect")
    return None


def _probe(form: str, m: re.Match[str] | None, pid: int | None, count: int) -> AuthEvent | None:
    if m is None:
        return None
    return AuthEvent("probe", _host(m.group(1)), None, _port(m.group(2)), count, pid, None, form)


def _parse(app: str, pid: int | None, message: str) -> AuthEvent | None:
    if app and not app.startswith("sshd"):
        return None
    text = message.strip()
    count = 1
    if text.startswith("message repeated "):
        rm = _REPEATED.match(text)
        if rm is None:
            return None
        count = int(rm.group(1))
        if count < 1:
            return None
        text = rm.group(2).strip()
    pm = _PREFIX.match(text)
    is_pam = False
    if pm is not None and pm.end():
        is_pam = pm.group(1) is not None
        text = text[pm.end() :]
    preauth = text.endswith(_PREAUTH)
    if preauth:
        text = text[: -len(_PREAUTH)].rstrip()
    if is_pam:
        m = _PAM.match(text)
        if m is None:
            return None
        user = m.group(2)
        return AuthEvent("failure", _host(m.group(3)), user, None, count, pid, "pam", "pam")
    first = text.split(" ", 1)[0]
    if first == "Failed":
        return _failed_or_accepted("failure", text[7:], pid, count)
    if first == "Accepted":
        return _failed_or_accepted("success", text[9:], pid, count)
    if first in ("Invalid", "invalid", "Illegal", "illegal"):
        m = _INVALID.match(text)
        if m is None:
            return None
        return AuthEvent(
            "invalid_user",
            _host(m.group(2)),
            m.group(1),
            _port(m.group(3)),
            count,
            pid,
            None,
            "invalid_user",
        )
    if first == "User":
        m = _NOT_ALLOWED.match(text)
        if m is not None:
            return AuthEvent(
                "refused", _host(m.group(2)), m.group(1), None, count, pid, None, "not_allowed"
            )
        m = _NOT_ALLOWED_NO_HOST.match(text)
        if m is not None:
            return AuthEvent("refused", None, m.group(1), None, count, pid, None, "not_allowed")
        return None
    if first == "ROOT":
        m = _ROOT.match(text)
        if m is None:
            return None
        return AuthEvent(
            "refused",
            _host(m.group(1)),
            "root",
            _port(m.group(2)),
            count,
            pid,
            None,
            "root_refused",
        )
    if first == "refused":
        m = _TCP_WRAPPERS.match(text)
        if m is None:
            return None
        return AuthEvent("refused", _host(m.group(1)), None, None, count, pid, None, "tcp_wrappers")
    if first.startswith("pam_"):
        m = _PAM_MODULE.match(text)
        return None if m is None else _pam_module(m.group(1), pid, count)
    if first == "maximum":
        m = _MAX_ATTEMPTS.match(text)
        if m is None:
            return None
        return AuthEvent(
            "preauth_close",
            _host(m.group(3)),
            m.group(2),
            _port(m.group(4)),
            count,
            pid,
            None,
            "max_attempts",
        )
    if first in ("Disconnecting", "Disconnecting:"):
        return _disconnecting(text, pid, count)
    if first == "Connection":
        if text.startswith("Connection from "):
            m = _CONNECT.match(text)
            if m is None:
                return None
            return AuthEvent(
                "connect", _host(m.group(1)), None, _port(m.group(2)), count, pid, None, "connect"
            )
        return _closing(text, preauth, pid, count)
    if first == "Disconnected":
        return _closing(text, preauth, pid, count)
    if first == "Received":
        return _received(text, preauth, pid, count)
    if first == "Did":
        return _probe("no_ident", _NO_IDENT.match(text), pid, count)
    if first == "Bad":
        return _probe("bad_version", _BAD_VERSION.match(text), pid, count)
    if first == "Unable":
        if text.startswith("Unable to negotiate a "):
            return AuthEvent("probe", None, None, None, count, pid, None, "negotiate")
        return _probe("negotiate", _NEGOTIATE.match(text), pid, count)
    if first == "no" and text.startswith("no matching ") and " found" in text:
        return AuthEvent("probe", None, None, None, count, pid, None, "negotiate")
    if first in ("banner", "ssh_dispatch_run_fatal:"):
        m = _CONNECTION_FROM.match(text)
        if m is None:
            return None
        form = "banner" if first == "banner" else "dispatch"
        user = m.group(1)
        return AuthEvent(
            "probe", _host(m.group(2)), user, _port(m.group(3)), count, pid, None, form
        )
    if first == "Timeout":
        return _probe("timeout", _TIMEOUT.match(text), pid, count)
    if first == "drop":
        return _probe("penalty", _PENALTY.match(text), pid, count)
    if first == "kex_exchange_identification:":
        return AuthEvent("probe", None, None, None, count, pid, None, "kex")
    return None


def parse_auth_message(app: str, pid: int | None, message: str) -> AuthEvent | None:
    """Recognise one sshd or PAM authentication message.

    Args:
        app: The program that logged it (the syslog tag or the journal's
            ``SYSLOG_IDENTIFIER``): ``sshd``, ``sshd-session``, ``sshd-auth``; ``""``
            when unknown.  Messages of other programs return ``None``.
        pid: The process id of the sshd that logged it, or ``None``.
        message: The message text (after ``sshd[pid]: ``).

    Returns:
        The event, or ``None`` when the message is not one of those listed in the
        module docstring.
    """
    try:
        return _parse(app, pid, message)
    except (ValueError, OverflowError):
        return None
