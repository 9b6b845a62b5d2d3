"""The package's public surface, its import-time behaviour and its translations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import libhfagent

PUBLIC_API = {
    "Agent",
    "Answer",
    "Config",
    "Executor",
    "Interpreter",
    "Learner",
    "Observer",
    "HFAgentError",
    "InvalidInputError",
    "ConfigError",
    "RequestError",
    "SourceError",
    "ModelError",
    "PolicyDenied",
    "ExecutionError",
    "AuditError",
    "NotAuthorized",
}


def test_all_is_exactly_the_public_api() -> None:
    assert set(libhfagent.__all__) == PUBLIC_API
    assert libhfagent.__all__ == sorted(libhfagent.__all__)
    for name in libhfagent.__all__:
        assert getattr(libhfagent, name) is not None


def test_error_tree_is_rooted_and_mapped() -> None:
    for name in PUBLIC_API:
        obj = getattr(libhfagent, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, libhfagent.HFAgentError)
            assert obj.dbus_name.startswith("org.huggingface.Agent1.Error.")
            assert obj.exit_status in (1, 2)
    assert issubclass(libhfagent.ConfigError, libhfagent.InvalidInputError)
    assert libhfagent.ConfigError.exit_status == 2


def test_import_does_nothing_heavy() -> None:
    code = (
        "import sys, libhfagent\n"
        "heavy = {'torch', 'transformers', 'onnxruntime', 'dbus_fast', 'systemd', 'psutil'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_py_typed_is_shipped() -> None:
    assert (Path(libhfagent.__file__).parent / "py.typed").exists()


def test_compiled_french_catalog_matches_its_source() -> None:
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    folder = Path(libhfagent.__file__).parent / "locale" / "fr" / "LC_MESSAGES"
    with open(folder / "libhfagent.po", "rb") as po, open(folder / "libhfagent.mo", "rb") as mo:
        source, compiled = read_po(po), read_mo(mo)

    def table(catalog: object) -> dict[object, object]:
        def key(v: object) -> object:
            return tuple(v) if isinstance(v, (list, tuple)) else v

        return {key(m.id): key(m.string) for m in catalog if m.id}  # type: ignore[attr-defined]

    wanted, got = table(source), table(compiled)
    assert got == wanted, "run scripts/update-translations"
    assert all(v and all(v) if isinstance(v, tuple) else v for v in wanted.values()), "untranslated"
    assert not [m.id for m in source if m.id and "fuzzy" in m.flags]
