"""The fixed names of the service, its interface, and the polkit action of every method."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from importlib import resources
from types import MappingProxyType
from typing import Final

from dbus_fast.introspection import Interface, Node

__all__ = [
    "ACTIONS",
    "ACTION_IDS",
    "BUS_NAME",
    "INTERFACE",
    "OBJECT_PATH",
    "InterfaceError",
    "check_interface",
    "interface_xml",
    "load_interface",
]

BUS_NAME: Final = "org.huggingface.Agent"
OBJECT_PATH: Final = "/org/huggingface/Agent1"
INTERFACE: Final = "org.huggingface.Agent1"

#: The polkit actions of ``policy/org.huggingface.Agent.policy``.
ACTION_IDS: Final = frozenset(
    f"org.huggingface.agent.{name}" for name in ("read", "analyze", "execute", "audit", "configure")
)

#: Every method of the interface and the polkit action a caller needs for it.
ACTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Interpret": "org.huggingface.agent.read",
        "GetStatus": "org.huggingface.agent.read",
        "Analyze": "org.huggingface.agent.analyze",
        "Ask": "org.huggingface.agent.analyze",
        "Execute": "org.huggingface.agent.execute",
        "ListSuggestions": "org.huggingface.agent.read",
        "ReplySuggestion": "org.huggingface.agent.execute",
        "ReadAudit": "org.huggingface.agent.audit",
        "VerifyAudit": "org.huggingface.agent.audit",
        "Reload": "org.huggingface.agent.configure",
    }
)

_XML_NAME: Final = "org.huggingface.Agent1.xml"


class InterfaceError(RuntimeError):
    """The interface and the service's tables disagree: the service must not start."""


def interface_xml() -> str:
    """The introspection XML shipped with the service (the interface's reference)."""
    return resources.files(__package__).joinpath(_XML_NAME).read_text(encoding="utf-8")


def load_interface(xml: str | None = None) -> Interface:
    """Parse the introspection XML and return the ``org.huggingface.Agent1`` interface.

    Raises:
        InterfaceError: The XML does not declare the interface.
    """
    node = Node.parse(interface_xml() if xml is None else xml)
    for interface in node.interfaces:
        if interface.name == INTERFACE:
            return interface
    raise InterfaceError(f"the introspection XML declares no interface {INTERFACE}")


def check_interface(
    interface: Interface,
    actions: Mapping[str, str],
    handlers: Collection[str],
) -> None:
    """Check that every method has a known polkit action and an implementation, and no more.

    Args:
        interface: The interface as the introspection XML declares it.
        actions: Method name to polkit action id.
        handlers: Names of the implemented methods.

    Raises:
        InterfaceError: Naming every method at fault.
    """
    declared = {m.name for m in interface.methods}
    problems = []
    for name in sorted(declared):
        action = actions.get(name)
        if action is None:
            problems.append(f"method {name} declares no polkit action")
        elif action not in ACTION_IDS:
            problems.append(f"method {name}: unknown polkit action {action}")
        if name not in handlers:
            problems.append(f"method {name} has no implementation")
    for name in sorted((set(actions) | set(handlers)) - declared):
        problems.append(f"method {name} is not in the introspection XML")
    if problems:
        raise InterfaceError(
            f"{INTERFACE}: " + "; ".join(problems) + " (the service refuses to start)"
        )
