"""A module's documented options as ansible-doc shows them: its own plus those of its doc fragments."""

from __future__ import annotations

import importlib
from typing import Any

import yaml


def documented_options(documentation: str) -> dict[str, Any]:
    doc = yaml.safe_load(documentation)
    options: dict[str, Any] = {}
    for fragment in doc.get("extends_documentation_fragment", []):
        namespace, collection, name = fragment.split(".")
        module = importlib.import_module(f"ansible_collections.{namespace}.{collection}.plugins.doc_fragments.{name}")
        options.update(yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"])
    options.update(doc["options"])
    return options
