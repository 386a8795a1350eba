"""The action plugin's argument spec and the module's documentation say the same (validate-modules cannot
compare them for an action plugin)."""

from __future__ import annotations

from typing import Any

import yaml

from ansible_collections.tradebot.kucoin.plugins.action.subaccount_api_key import ARGUMENT_SPEC
from ansible_collections.tradebot.kucoin.plugins.modules import subaccount_api_key

from ..module_docs import documented_options


def compare(documented: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    assert set(documented) == set(spec), where
    for name, option in spec.items():
        doc = documented[name]
        for field in ("type", "default", "choices", "elements", "aliases"):
            assert doc.get(field) == option.get(field), f"{where}{name}.{field}"
        assert bool(doc.get("required")) == bool(option.get("required")), f"{where}{name}"
        if "options" in option:
            compare(doc["suboptions"], option["options"], f"{where}{name}.")


def test_documented_options_match_the_argument_spec() -> None:
    compare(documented_options(subaccount_api_key.DOCUMENTATION), ARGUMENT_SPEC, "")
    for section in ("EXAMPLES", "RETURN"):
        assert yaml.safe_load(getattr(subaccount_api_key, section))


def test_the_master_keys_secret_and_every_passphrase_are_no_log() -> None:
    assert ARGUMENT_SPEC["master"]["no_log"]
    assert ARGUMENT_SPEC["master"]["options"]["api_secret"]["no_log"]
    assert ARGUMENT_SPEC["master"]["options"]["api_passphrase"]["no_log"]
    assert ARGUMENT_SPEC["passphrase"]["no_log"]
