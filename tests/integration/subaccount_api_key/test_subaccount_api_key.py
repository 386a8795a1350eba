"""tradebot.kucoin.subaccount_api_key end to end: ansible-playbook on localhost, the KuCoin sandbox over HTTP
and a real OpenBao. Each failure point leaves Vault naming a working key and no key of the run behind."""

from __future__ import annotations

import pytest

from .conftest import DAY_MS, Rotation

pytestmark = [pytest.mark.sandbox, pytest.mark.vault]


def test_creates_a_key_that_works_and_writes_it_to_vault_with_metadata(rotation: Rotation) -> None:
    run = rotation.run()
    assert not run.failed, run
    assert run.result["changed"]
    assert run.result["created"]
    version, data = rotation.current()
    assert run.result["api_key"] == data["api_key"]
    assert run.result["vault_version"] == version == 1
    assert rotation.sub_keys() == {data["api_key"]}
    key = rotation.sandbox.keys[data["api_key"]]
    assert key.permissions == ("General", "Spot")
    assert key.ip_whitelist == ("127.0.0.1",)
    assert key.expire_days == 90
    info = rotation.signed_key_info(data).data
    assert info["subName"] == rotation.sub_name
    meta = rotation.custom_metadata()
    assert meta["tradebot_change"] == "created"
    assert meta["tradebot_version"] == "1"
    assert meta["tradebot_api_key"] == data["api_key"]
    assert meta["tradebot_made_by"] == "tradebot.kucoin.subaccount_api_key"


def test_a_key_that_is_not_due_is_left_alone_and_a_due_one_is_rotated(rotation: Rotation) -> None:
    old = rotation.seed(age_days=10, api="futures")
    quiet = rotation.run()
    assert not quiet.failed, quiet
    assert not quiet.result["changed"]
    assert quiet.result["key_age_days"] == 10
    assert rotation.current()[0] == 1

    rotation.sandbox.keys[old.api_key].created_at_ms -= 75 * DAY_MS
    rotated = rotation.run()
    assert rotated.result["created"], rotated
    assert rotated.result["previous_api_key"] == old.api_key
    assert rotated.result["previous_vault_version"] == 1
    version, data = rotation.current()
    assert (version, data["api_key"]) == (2, rotated.result["api_key"])
    assert data["api"] == "futures"  # the secret's other fields stay
    assert rotation.sub_keys() == {old.api_key, data["api_key"]}  # the old key goes once the bot runs on the new
    meta = rotation.custom_metadata()
    assert meta["tradebot_change"] == "rotated"
    assert meta["tradebot_replaced_api_key"] == old.api_key
    assert rotation.signed_key_info(data).data["subName"] == rotation.sub_name

    again = rotation.run()
    assert not again.result["changed"], again


def test_check_mode_changes_nothing(rotation: Rotation) -> None:
    old = rotation.seed(age_days=85)
    run = rotation.run("--check")
    assert not run.failed, run
    assert run.result["changed"]
    assert run.result["due"]
    assert not run.result["created"]
    assert rotation.sub_keys() == {old.api_key}
    assert rotation.current()[0] == 1
    absent = rotation.run("--check", state="absent", api_key=old.api_key)
    assert absent.result["changed"], absent
    assert rotation.sub_keys() == {old.api_key}


def test_absent_on_the_new_key_deletes_it_and_rolls_vault_back(rotation: Rotation) -> None:
    old = rotation.seed(age_days=85)
    new_key = rotation.run(rotate=True).result["api_key"]
    run = rotation.run(state="absent", api_key=new_key)
    assert not run.failed, run
    assert run.result["deleted"]
    assert run.result["rolled_back"]
    assert rotation.sub_keys() == {old.api_key}
    version, data = rotation.current()
    assert (version, data["api_key"], data["api_secret"]) == (3, old.api_key, old.secret)
    assert rotation.custom_metadata()["tradebot_change"] == "rolled_back"
    again = rotation.run(state="absent", api_key=new_key)
    assert not again.result["changed"], again


def test_absent_on_the_old_key_after_a_rotation_deletes_it_and_leaves_vault(rotation: Rotation) -> None:
    old = rotation.seed(age_days=85)
    new_key = rotation.run().result["api_key"]
    run = rotation.run(state="absent", api_key=old.api_key)
    assert run.result["deleted"], run
    assert not run.result["rolled_back"]
    assert rotation.sub_keys() == {new_key}
    assert rotation.current() == (2, rotation.current()[1])
    assert rotation.current()[1]["api_key"] == new_key


def test_a_failed_vault_write_deletes_the_new_key(rotation: Rotation) -> None:
    old = rotation.seed(age_days=85)
    run = rotation.run(vault=rotation.vault(token=rotation.reader_token))
    assert run.failed
    assert "permission denied" in run.msg
    assert "deleted again" in run.msg
    assert run.result["deleted"]
    assert rotation.sub_keys() == {old.api_key}
    assert rotation.current()[0] == 1


@pytest.mark.parametrize("count", [4])
def test_a_failing_list_stops_before_anything_changes(rotation: Rotation, count: int) -> None:
    old = rotation.seed(age_days=85)
    rotation.sandbox.set_faults(rotation.master.api_key, sub_key_list_error_count=count)
    run = rotation.run()
    assert run.failed
    assert "listing the keys" in run.msg
    assert rotation.sub_keys() == {old.api_key}
    assert rotation.current()[0] == 1


def test_a_failing_create_changes_nothing_and_is_not_retried(rotation: Rotation) -> None:
    old = rotation.seed(age_days=85)
    rotation.sandbox.set_faults(rotation.master.api_key, sub_key_add_error_count=1)
    run = rotation.run()
    assert run.failed
    assert "Vault is unchanged" in run.msg
    assert "KuCoin made no key" in run.msg
    assert rotation.sub_keys() == {old.api_key}
    assert rotation.current()[0] == 1


def test_a_failing_delete_of_the_new_key_leaves_vault_on_the_old_one(rotation: Rotation) -> None:
    old = rotation.seed(age_days=85)
    new_key = rotation.run().result["api_key"]
    rotation.sandbox.set_faults(rotation.master.api_key, sub_key_delete_error_count=4)
    run = rotation.run(state="absent", api_key=new_key)
    assert run.failed
    assert run.result["rolled_back"]
    assert new_key in run.msg
    assert rotation.current()[1]["api_key"] == old.api_key
    assert rotation.sub_keys() == {old.api_key, new_key}  # named in the error, for the summary
    retry = rotation.run(state="absent", api_key=new_key)
    assert retry.result["deleted"], retry
    assert not retry.result["rolled_back"]
    assert rotation.sub_keys() == {old.api_key}


def test_a_failing_delete_after_a_failed_vault_write_names_the_key_left(rotation: Rotation) -> None:
    old = rotation.seed(age_days=85)
    rotation.sandbox.set_faults(rotation.master.api_key, sub_key_delete_error_count=4)
    run = rotation.run(vault=rotation.vault(token=rotation.reader_token))
    assert run.failed
    left = rotation.sub_keys() - {old.api_key}
    assert len(left) == 1
    assert left.pop() in run.msg
    assert "delete it" in run.msg
    assert rotation.current()[0] == 1


def test_info_lists_the_keys_without_secrets(rotation: Rotation) -> None:
    old = rotation.seed(age_days=85)
    run = rotation.run(state="info")
    assert not run.failed, run
    assert [key["api_key"] for key in run.result["keys"]] == [old.api_key]
    assert run.result["keys"][0]["age_days"] == 85
    assert run.result["due"]
    assert old.secret not in str(run.result)
    assert old.passphrase not in str(run.result)


def test_a_transfer_permission_is_refused_before_any_call(rotation: Rotation) -> None:
    run = rotation.run(permissions=["Spot", "Transfer"])
    assert run.failed
    assert "Transfer" in run.msg
    assert rotation.sub_keys() == set()


def test_vault_settings_come_from_the_lookups_variables_and_environment(rotation: Rotation) -> None:
    old = rotation.seed(age_days=3)
    run = rotation.run(
        "-e",
        f"tradebot_vault_token={rotation.token}",
        state="info",
        vault={"path": rotation.path},
        env={"VAULT_ADDR": rotation.bao.url},
    )
    assert not run.failed, run
    assert run.result["api_key"] == old.api_key
    assert run.result["vault_version"] == 1
    unknown = rotation.run(state="info", vault={"path": rotation.path, "versoin": 2})
    assert unknown.failed
    assert "unknown option(s) versoin" in unknown.msg
