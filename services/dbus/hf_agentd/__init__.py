"""hf-agentd: the system D-Bus service ``org.huggingface.Agent`` over libhfagent.

A thin adapter: each method of ``org.huggingface.Agent1`` (the interface the
introspection XML ``org.huggingface.Agent1.xml`` declares) is authorised through
polkit for the calling bus name, then converts its arguments, calls the library
and converts the result to an ``a{sv}`` whose keys mirror ``hf-agent --json``.
"""

from ._api import ACTIONS as ACTIONS
from ._api import BUS_NAME as BUS_NAME
from ._api import INTERFACE as INTERFACE
from ._api import OBJECT_PATH as OBJECT_PATH
from ._api import InterfaceError as InterfaceError
from ._api import check_interface as check_interface
from ._api import load_interface as load_interface
from ._daemon import Daemon as Daemon
from ._main import main as main

__all__ = [
    "ACTIONS",
    "BUS_NAME",
    "INTERFACE",
    "OBJECT_PATH",
    "Daemon",
    "InterfaceError",
    "check_interface",
    "load_interface",
    "main",
]
