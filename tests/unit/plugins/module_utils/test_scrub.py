from __future__ import annotations

from ansible_collections.tradebot.kucoin.plugins.module_utils._scrub import scrub, secret_forms

SECRET = "sec-SCRUB-7f3a9c"
PASSPHRASE = "pass-SCRUB-1234"


def test_scrub_masks_every_secret() -> None:
    assert scrub(f"x {SECRET} y {PASSPHRASE}", [SECRET, PASSPHRASE, ""]) == "x ******** y ********"


def test_scrub_masks_a_secret_that_contains_another_whole() -> None:
    assert scrub(f"[{SECRET}]", ["SCRUB", SECRET]) == "[********]"


def test_scrub_masks_escaped_and_trimmed_forms() -> None:
    value = "pass-CHECK-é\n"
    forms = secret_forms([value, "abc", ""])
    assert "abc" not in forms  # too short to mask without mangling other text
    for text in (
        f"Illegal header value {value.encode()!r}",
        f"in header value: {value!r}",
        f"body starts: {value.strip()} ",
        f"raw {value}",
    ):
        assert "pass-CHECK" not in scrub(text, forms), text
