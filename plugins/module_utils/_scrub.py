# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that removes secrets from text an error or a log line may show."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MASK = "********"


def secret_forms(values: Iterable[str]) -> list[str]:
    """Each secret as an error text may show it: as is, trimmed, and escaped the way a str or bytes repr does."""
    forms: list[str] = []
    for value in values:
        if not value:
            continue
        for form in (value, value.strip(), repr(value)[1:-1], repr(value.encode("utf-8"))[2:-1]):
            if len(form) >= 4 and form not in forms:
                forms.append(form)
    return forms


def scrub(text: str, secrets: Sequence[str]) -> str:
    """text with every secret (of four characters or more) replaced by a mask."""
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text
