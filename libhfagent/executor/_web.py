"""``web.maintenance``: a web site's maintenance page, switched by a flag file and a reload.

The web server's configuration tests for the flag file (see
``services/nginx/hf-agent-maintenance.conf``): while it exists every request gets
a 503 and the maintenance page. The action creates or removes that file
atomically, then reloads the server — by ``SIGHUP`` to the pid of a pid file, or
by systemd's ``ReloadUnit`` — so that a setup that includes a file instead of
testing for one takes the change too.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import stat
from collections.abc import Mapping
from typing import Any

from .._atomic import write_atomic
from .._errors import ExecutionError, RequestError
from ._actions import (
    Action,
    ActionContext,
    ActionResult,
    Touches,
    _check_changeable,
    check_path,
    check_unit,
)

__all__ = ["WebMaintenance", "check_web_service", "flag_state"]

_STATES = ("on", "off")
#: A pid file written this long before its process started belongs to an earlier process.
_PID_FILE_SLACK = 2.0


def check_web_service(value: Any) -> str:
    """A systemd unit name (``.service`` added) or the absolute path of a pid file.

    Raises:
        RequestError: Neither (the message names the ``service`` key).
    """
    if isinstance(value, str) and value.startswith("/"):
        return check_path(value, "service")
    return check_unit(value)


def flag_state(flag: str) -> str:
    """``on`` when the flag file exists, ``off`` when it does not.

    Raises:
        ExecutionError: Something else than a regular file is at that path, or
            it cannot be looked at.
    """
    try:
        st = os.lstat(flag)
    except FileNotFoundError:
        return "off"
    except OSError as exc:
        raise ExecutionError(f"web.maintenance: cannot look at {flag}: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ExecutionError(
            f"web.maintenance: {flag} exists but is not a regular file (a directory, link "
            "or device); remove it by hand or set modules.runbooks.maintenance_flag to "
            "another path"
        )
    return "on"


class WebMaintenance(Action):
    """``web.maintenance``: create or remove the maintenance flag file, then reload the server.

    Arguments: ``state`` (``on`` or ``off``), ``flag`` (the flag file's absolute
    path), ``service`` (a systemd unit or the absolute path of the server's pid
    file). The flag switch runs in the copy-on-write preview; the reload does not
    (the preview reports what it would reload).
    """

    id = "web.maintenance"
    simulable = True
    undo = "switch the maintenance page back to its previous state"

    def check(self, args: Mapping[str, Any]) -> dict[str, Any]:
        state = args.get("state")
        if state not in _STATES:
            raise RequestError(f'state: expected "on" or "off", got {state!r}')
        if "flag" not in args:
            raise RequestError(
                "flag: missing; give the absolute path of the maintenance flag file "
                "(modules.runbooks.maintenance_flag)"
            )
        flag = _check_changeable(args["flag"], "flag", final_link=True)
        if "service" not in args:
            raise RequestError(
                "service: missing; give the web server's systemd unit or the absolute path "
                "of its pid file (modules.runbooks.web_service)"
            )
        return {"state": state, "flag": flag, "service": check_web_service(args["service"])}

    def touches(self, args: Mapping[str, Any]) -> Touches:
        service = str(args["service"])
        return Touches((str(args["flag"]),), () if service.startswith("/") else (service,))

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> ActionResult:
        checked = self.check(args)
        flag, state, service = checked["flag"], checked["state"], checked["service"]
        before = flag_state(flag)
        if state == "on" and before == "off":
            _create_flag(flag, ctx.now)
        elif state == "off" and before == "on":
            _remove_flag(flag)
        report: dict[str, Any] = {
            "flag": flag,
            "state_before": before,
            "state_after": state,
            "changed": before != state,
        }
        if ctx.previewing:
            report["reload"] = {
                "how": "not simulated",
                "service": service,
                "detail": f"{service} is reloaded when the plan is applied",
            }
        else:
            try:
                report["reload"] = reload_web_server(service)
            except ExecutionError as exc:
                raise ExecutionError(
                    f"web.maintenance: maintenance is {state} ({flag} "
                    f"{'exists' if state == 'on' else 'is absent'}), but the reload failed: {exc}"
                ) from exc
        return ActionResult(report, {"state": before})

    def revert(self, args: Mapping[str, Any], undo: Mapping[str, Any], ctx: ActionContext) -> str:
        previous = undo.get("state")
        if previous not in _STATES:
            raise ExecutionError(f"web.maintenance: unknown previous state {previous!r}")
        result = self.run({**args, "state": previous}, ctx)
        reload = result.report["reload"]
        return (
            f"maintenance {previous} ({result.report['flag']}); "
            f"{reload['service']}: {reload['how']}"
        )


def _create_flag(flag: str, now: float) -> None:
    folder = os.path.dirname(flag)
    if not os.path.isdir(folder):
        raise ExecutionError(
            f"web.maintenance: the folder {folder} does not exist; create it (the web server "
            "must be able to look into it) or set modules.runbooks.maintenance_flag"
        )
    when = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")
    try:
        write_atomic(flag, f"{when} hf-agent\n", mode=0o644)
    except OSError as exc:
        raise ExecutionError(f"web.maintenance: cannot create {flag}: {exc.strerror}") from exc


def _remove_flag(flag: str) -> None:
    try:
        os.unlink(flag)
        folder = os.open(os.path.dirname(flag), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ExecutionError(f"web.maintenance: cannot remove {flag}: {exc.strerror}") from exc


def reload_web_server(service: str) -> dict[str, Any]:
    """Reload the web server: ``SIGHUP`` to a pid file's process, or systemd ``ReloadUnit``.

    A server that is not running is not an error: the flag file alone is the
    result, and the returned ``how`` is ``none`` with the reason in ``detail``.

    Args:
        service: A checked unit name or absolute pid-file path.

    Returns:
        ``service``, ``how`` (``SIGHUP``, ``systemd reload`` or ``none``) and ``detail``.

    Raises:
        ExecutionError: The pid file is unreadable, or systemd refused or failed the reload.
    """
    if service.startswith("/"):
        return _hup_pid_file(service)
    from ._systemd import Systemd

    systemd = Systemd()
    unit = systemd.unit_state(service)
    if unit.load_state != "loaded" or unit.active_state not in ("active", "reloading"):
        return {
            "service": service,
            "how": "none",
            "detail": f"{service} is {unit.load_state}/{unit.active_state}, not running: "
            "nothing to reload, the flag file alone is the result",
        }
    result = systemd.job("reload", service)
    if result != "done":
        raise ExecutionError(f"systemd's reload job for {service} ended with {result!r}")
    return {"service": service, "how": "systemd reload", "detail": f"{service} reloaded"}


def _hup_pid_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read(64)
            mtime = os.fstat(handle.fileno()).st_mtime
    except FileNotFoundError:
        return {
            "service": path,
            "how": "none",
            "detail": f"{path} does not exist: the web server is not running, "
            "the flag file alone is the result",
        }
    except (OSError, UnicodeDecodeError) as exc:
        raise ExecutionError(f"cannot read the pid file {path}: {exc}") from exc
    token = text.strip()
    if not token.isdigit() or int(token) <= 1:
        raise ExecutionError(f"the pid file {path} holds {token[:20]!r}, not a process id")
    pid = int(token)
    started = _process_start(pid)
    if started is None:
        return {
            "service": path,
            "how": "none",
            "pid": pid,
            "detail": f"process {pid} of {path} is not running: the flag file alone is the result",
        }
    if started > mtime + _PID_FILE_SLACK:
        return {
            "service": path,
            "how": "none",
            "pid": pid,
            "detail": f"process {pid} started after {path} was written, so it is another "
            "program (the pid file is stale): not signalled, the flag file alone is the result",
        }
    name = _process_name(pid)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return {
            "service": path,
            "how": "none",
            "pid": pid,
            "detail": f"process {pid} of {path} exited: the flag file alone is the result",
        }
    except OSError as exc:
        raise ExecutionError(f"cannot signal process {pid} ({name}): {exc.strerror}") from exc
    return {
        "service": path,
        "how": "SIGHUP",
        "pid": pid,
        "process": name,
        "detail": f"SIGHUP sent to {name} (pid {pid})",
    }


def _process_start(pid: int) -> float | None:
    """When a process started (seconds since the epoch), or ``None`` when it is not running."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith(b"btime "))
    except (FileNotFoundError, ProcessLookupError, StopIteration, IndexError):
        return None
    if fields[0] == b"Z":
        return None
    # Field 22 of proc(5) stat; fields[0] here is field 3 (the state).
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() or "?"
    except OSError:
        return "?"
