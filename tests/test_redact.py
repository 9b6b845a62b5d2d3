"""Secrets are masked before text reaches a model or a report."""

from __future__ import annotations

import pytest

from libhfagent.interpreter._redact import MASK, redact

# Built at run time so that no secret-looking literal sits in the repository.
HF = "hf_" + "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV"
GH = "ghp_" + "0123456789abcdefghijABCDEFGHIJ0123"
SLACK = "xoxb-" + "1234567890-abcdefghijkl"
JWT = (
    "eyJhbGciOiJIUzI1NiJ9."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    + "dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GCP = "AIza" + "SyA-1234567890abcdefghijklmnopqrstu"
AZURE = "AccountKey=" + "abcdefghijklmnopqrstuvwxyz0123456789ABCD+/=="
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"my token is {HF} ok", HF),
        (f"git clone with {GH}", GH),
        (f"slack {SLACK}", SLACK),
        (f"cookie {JWT}", JWT),
        (f"aws key {AKIA}", AKIA),
        (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
        (f"google key {GCP}", GCP),
        (f"DefaultEndpointsProtocol=https;{AZURE};EndpointSuffix=core.windows.net", AZURE[11:]),
        ("sync to https://admin:s3cr3tPass@backup.example.org/path", "s3cr3tPass"),
        ("rsync://user:hunter22@nas/module", "hunter22"),
        (f"key:\n{PEM}\nend", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("curl -H 'Authorization: Bearer abcdef123456789'", "abcdef123456789"),
        ("bearer abcdefghijkl0123", "abcdefghijkl0123"),
        ("db password=Tr0ub4dor&3 host=x", "Tr0ub4dor"),
        ("passwd: correcthorse", "correcthorse"),
        ('{"api_key": "zzz-123-yyy"}', "zzz-123-yyy"),
        ("mot de passe: Soleil2024", "Soleil2024"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert MASK in out


def test_text_around_secrets_is_kept() -> None:
    out = redact("restart nginx, password=abc123 then check https://bob:pw@host/x")
    assert out == f"restart nginx, password={MASK} then check https://bob:{MASK}@host/x"


def test_plain_requests_are_untouched() -> None:
    for text in (
        "Analyse les logs de Nginx des dernières 24 heures et résume les erreurs 404",
        "every sunday at 3am restart nginx",
        "sauvegarde /etc vers backup@nas:/volume1/etc",
        "who is listening on port 443 from 203.0.113.7",
    ):
        assert redact(text) == text


def test_ips_and_emails_on_request() -> None:
    text = "alice@example.org logged in from 203.0.113.7 and 2001:db8::1 at 10:30"
    assert redact(text) == text
    out = redact(text, ips=True, emails=True)
    assert "alice@example.org" not in out
    assert "203.0.113.7" not in out and "2001:db8::1" not in out
    assert "10:30" in out
