"""Masking secrets before text reaches a model or a report.

:func:`redact` replaces access tokens (Hugging Face, GitHub, Slack, GitLab,
OpenAI-style, JWTs), cloud keys (AWS access key ids and secrets, Google API
keys and service-account private keys, Azure storage keys and connection
strings), passwords in URLs, PEM private keys, ``Authorization:`` and
``Bearer`` headers and ``password=`` / ``passwd:`` style key-values; IP and
e-mail addresses optionally. Pure: a string in, a string out.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact"]

#: What a secret is replaced with.
MASK = "[REDACTED]"

_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*)(?:(basic|bearer|token|digest|negotiate|ntlm)\s+)?"
    r"[^\s,;\"']+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)")
_KEY_VALUE = re.compile(
    r"(?i)(?<![\w-])((?:[\w-]*(?:password|passwd|passphrase|pwd|secret|api[_-]?key|apikey|"
    r"access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token|access[_-]?token|"
    r"refresh[_-]?token|token|mot[_ ]de[_ ]passe|mdp)[\w-]*)"
    r"[\"']?\s*(?:=|:|=>)\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"'}]+)"
)
_TOKENS = (
    re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"),  # Hugging Face
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}\b"),  # GitHub
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),  # GitLab
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b"),  # OpenAI / Anthropic style
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),  # JWT
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),  # AWS key id
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}\b"),  # Google OAuth access token
    re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey|sig)=[A-Za-z0-9+/%]{20,}={0,2}"),  # Azure
    re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
    re.compile(r"\bpypi-[A-Za-z0-9_-]{40,}\b"),
)
# An AWS secret access key: 40 base64 characters next to a word saying so.
_AWS_SECRET = re.compile(
    r"(?i)(aws.{0,20}?(?:secret|key).{0,20}?[\s:=\"']+)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w.]|\.\d)"
)
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})(?![\w:])"
    r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?(?![\w:])"
)


def _keep_prefix(m: re.Match[str]) -> str:
    return m.group(1) + MASK


def redact(text: str, *, ips: bool = False, emails: bool = False) -> str:
    """Mask the secrets in a text.

    Args:
        text: Any text: a request, log lines, a report.
        ips: Also mask IPv4 and IPv6 addresses.
        emails: Also mask e-mail addresses.

    Returns:
        The text with each secret replaced by :data:`MASK` (the key or header
        name before it kept, so that the text still reads).
    """
    text = _PEM.sub(MASK, text)
    text = _AUTH_HEADER.sub(
        lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + MASK, text
    )
    text = _BEARER.sub(_keep_prefix, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(2), text)
    text = _AWS_SECRET.sub(_keep_prefix, text)
    for rx in _TOKENS:
        text = rx.sub(MASK, text)
    text = _KEY_VALUE.sub(
        lambda m: m.group(0) if m.group(2).strip("\"'") == MASK else m.group(1) + MASK, text
    )
    if emails:
        text = _EMAIL.sub(MASK, text)
    if ips:
        text = _IPV4.sub(MASK, text)
        text = _IPV6.sub(lambda m: m.group(0) if m.group(0).count(":") < 2 else MASK, text)
    return text
