"""Secrets stay secret at -vvvv and --diff, on success and failure; Jinja inside a secret is never run."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from .conftest import LEAK_CANARY, SeededVault, run

pytestmark = pytest.mark.vault


def test_no_secret_in_verbose_output_cache_or_audit_log(seeded_vault: SeededVault, tmp_path: Path) -> None:
    bao = seeded_vault.bao
    canary = {
        "api_secret": f"{LEAK_CANARY}-api-secret",
        "api_passphrase": f"{LEAK_CANARY}-passphrase",
        "secret_id": f"{LEAK_CANARY}-secret-id",
        "wrong_secret_id": f"{LEAK_CANARY}-wrong-secret-id",
        "password": f"{LEAK_CANARY}-password",
        "other_field": f"{LEAK_CANARY}-other-field",
    }
    bao.put_secret(
        "secret", "kucoin/canary", {"api_key": "key-canary", **{k: canary[k] for k in ("api_secret", "api_passphrase")}}
    )
    bao.put_secret(
        "secret", "kucoin/canary-partial", {"api_key": "key-canary", "api_secret_old": canary["other_field"]}
    )
    role_id = bao.setup_approle("canary", ["kucoin-read"])[0]
    bao.client().write_data("auth/approle/role/canary/custom-secret-id", data={"secret_id": canary["secret_id"]})
    bao.setup_userpass("canary", f"{LEAK_CANARY}-right-password", ["kucoin-read"])

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cache_dir = tmp_path / "token-cache"
    vars_file = tmp_path / "verbose-vars.json"
    vars_file.write_text(
        json.dumps(
            {
                "out_dir": str(out_dir),
                "good_path": "kucoin/canary",
                "bad_path": "kucoin/canary-partial",
                "vault_options": {
                    "url": bao.url,
                    "auth_method": "approle",
                    "role_id": role_id,
                    "secret_id": canary["secret_id"],
                },
                "bad_login": {"secret_id": canary["wrong_secret_id"]},
                "bad_userpass": {
                    "url": bao.url,
                    "auth_method": "userpass",
                    "username": "canary",
                    "password": canary["password"],
                },
            }
        )
    )
    vars_file.chmod(0o600)
    audit_size = bao.audit_log.stat().st_size
    result = run(
        "verbose.yml",
        tmp_path,
        "-vvvv",
        "--diff",
        "-e",
        f"@{vars_file}",
        env={"TRADEBOT_VAULT_TOKEN_CACHE_DIR": str(cache_dir)},
    )
    assert result.returncode == 0, str(result)

    # Both paths really ran: the secret was rendered, and every failure happened and said why.
    assert (out_dir / "verbose.env").read_text().startswith("KUCOIN_API_KEY=key-canary\n")
    assert f"KUCOIN_SECRET_KEY={canary['api_secret']}\n" in (out_dir / "verbose.env").read_text()
    output = result.output
    assert "has no field(s) api_secret, api_passphrase (fields present: api_key, api_secret_old)" in output
    assert "login with auth method approle at auth/approle failed" in output
    assert "login with auth method userpass at auth/userpass failed" in output
    assert output.count("...ignoring") == 4
    assert "<redacted>" in output or "censored" in output  # no_log did its job on the assert

    assert LEAK_CANARY not in output
    # The only file on disk with a secret is the one meant to hold it; the cache holds just the token.
    for path in cache_dir.iterdir():
        assert LEAK_CANARY not in path.read_text(), path
    # OpenBao's audit device HMACs request and response values, so the canary is not there in clear either.
    with bao.audit_log.open(encoding="utf-8") as handle:
        handle.seek(audit_size)
        new_audit = handle.read()
    assert "auth/approle/login" in new_audit
    assert LEAK_CANARY not in new_audit


def test_jinja_in_a_secret_is_rendered_literally(seeded_vault: SeededVault, tmp_path: Path) -> None:
    bao = seeded_vault.bao
    marker = Path(f"/tmp/pwned-{secrets.token_hex(8)}")
    payload = f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    bao.put_secret(
        "secret", "kucoin/jinja", {"api_key": "key-jinja", "api_secret": payload, "api_passphrase": "{{ 7 * 7 }}"}
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    vars_file = tmp_path / "jinja-vars.json"
    vars_file.write_text(
        json.dumps(
            {
                "out_dir": str(out_dir),
                "jinja_path": "kucoin/jinja",
                "vault_options": {"url": bao.url, "token": seeded_vault.token},
            }
        )
    )
    try:
        result = run(
            "jinja.yml", tmp_path, "-e", f"@{vars_file}", env={"TRADEBOT_VAULT_TOKEN_CACHE_DIR": str(tmp_path / "c")}
        )
        assert result.returncode == 0, str(result)
        assert not marker.exists(), "the Jinja inside the secret was executed"
        for name in ("direct.env", "via-fact.env"):
            rendered = (out_dir / name).read_text()
            assert f"KUCOIN_SECRET_KEY={payload}\n" in rendered, name
            assert "KUCOIN_PASSPHRASE={{ 7 * 7 }}\n" in rendered, name
        assert (out_dir / "copied.txt").read_text() == f"{payload}|{{{{ 7 * 7 }}}}"
        assert payload in result.stdout  # the debug task shows the text, not its result
    finally:
        marker.unlink(missing_ok=True)
