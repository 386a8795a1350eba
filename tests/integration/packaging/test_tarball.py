"""The collection as users install it: the tarball holds exactly what ships, and everything works from an
installed copy in an empty directory (ansible-doc for every plugin and the role, the playbook by its FQCN)."""

from __future__ import annotations

import json

import pytest

from harness.galaxy import (
    GALAXY_FILES,
    LOCAL_ONLY,
    InstalledCollection,
    build_and_install,
    plugin_names,
    shipped,
    tar_members,
    tracked_files,
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> InstalledCollection:
    return build_and_install(tmp_path_factory.mktemp("galaxy"))


def test_tarball_holds_exactly_the_shipped_files(installed: InstalledCollection) -> None:
    members = tar_members(installed.tarball)
    expected = shipped(tracked_files()) | set(GALAXY_FILES)
    assert set(members) == expected, {
        "missing": sorted(expected - set(members)),
        "unexpected": sorted(set(members) - expected),
    }
    for must in (
        "playbooks/deploy_bot.yml",
        "playbooks/rotate_keys.yml",
        "LICENSE",
        "roles/bot_host/files/kucoin_bot.py",
    ):
        assert must in members
    for local in LOCAL_ONLY:
        assert local not in members
    # The checkout-only shortcuts stay out: installed, the playbooks are tradebot.kucoin.deploy_bot and rotate_keys.
    assert "deploy_bot.yml" not in members
    assert "rotate_keys.yml" not in members
    # The example bot's signing module is a link to the collection's own, kept as a link inside the tarball.
    link = members["roles/bot_host/files/kucoin_signing.py"]
    assert link.issym()
    assert link.linkname == "../../../plugins/module_utils/kucoin_signing.py"


def test_licence_and_manifest(installed: InstalledCollection) -> None:
    assert "GNU GENERAL PUBLIC LICENSE" in (installed.path / "LICENSE").read_text()
    info = json.loads((installed.path / "MANIFEST.json").read_text())["collection_info"]
    assert info["license"] == ["GPL-3.0-or-later"]
    assert (installed.path / "roles/bot_host/files/kucoin_signing.py").read_text() == (
        installed.path / "plugins/module_utils/kucoin_signing.py"
    ).read_text()


def test_ansible_doc_renders_every_plugin_from_the_installed_copy(installed: InstalledCollection) -> None:
    names = plugin_names(installed.path)
    assert {"module", "lookup", "filter"} <= set(names)
    for kind, plugins in names.items():
        listed = installed.run("ansible-doc", "-t", kind, "-l", "tradebot.kucoin", "--json")
        assert listed.returncode == 0, listed.stderr
        assert sorted(json.loads(listed.stdout)) == [f"tradebot.kucoin.{name}" for name in plugins]
        fqcns = [f"tradebot.kucoin.{name}" for name in plugins]
        shown = installed.run("ansible-doc", "-t", kind, "--json", *fqcns)
        assert shown.returncode == 0, shown.stderr
        docs = json.loads(shown.stdout)
        assert sorted(docs) == sorted(fqcns)
        for fqcn, doc in docs.items():
            assert doc["doc"]["short_description"], fqcn
            assert doc["examples"], fqcn
            assert str(installed.path) in doc["doc"]["filename"], fqcn
        assert "[WARNING]" not in shown.stderr, shown.stderr


def test_ansible_doc_renders_the_role_from_the_installed_copy(installed: InstalledCollection) -> None:
    shown = installed.run("ansible-doc", "-t", "role", "--json", "tradebot.kucoin.bot_host")
    assert shown.returncode == 0, shown.stderr
    role = json.loads(shown.stdout)["tradebot.kucoin.bot_host"]
    assert set(role["entry_points"]) == {"main", "report", "running"}
    assert "bot_host_strategies" in role["entry_points"]["main"]["options"]
    assert str(installed.path) in role["path"]


def test_playbook_by_its_fqcn_from_the_installed_copy(installed: InstalledCollection) -> None:
    inventory = installed.workdir / "inventory.yml"
    inventory.write_text("all:\n  children:\n    kucoin_bots:\n      hosts:\n        bot-a.example.com:\n")
    checked = installed.run("ansible-playbook", "--syntax-check", "-i", str(inventory), "tradebot.kucoin.deploy_bot")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"playbook: {installed.path}/playbooks/deploy_bot.yml" in checked.stdout
    rotate = installed.run("ansible-playbook", "--syntax-check", "-i", str(inventory), "tradebot.kucoin.rotate_keys")
    assert rotate.returncode == 0, rotate.stdout + rotate.stderr
    assert f"playbook: {installed.path}/playbooks/rotate_keys.yml" in rotate.stdout
    # The example inventory parses as it ships and names only files the installed collection has.
    example = installed.run("ansible-inventory", "-i", str(installed.path / "examples/inventory"), "--list", "--export")
    assert example.returncode == 0, example.stderr
    group_vars = json.loads(example.stdout)["kucoin_bots"]["vars"]
    for item in group_vars["bot_host_program_files"]:
        assert (installed.path / "roles/bot_host/files" / item["src"]).is_file(), item["src"]
