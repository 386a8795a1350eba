"""KuCoin calls over httpx: retries only where they help, the body's code read whatever the status, errors sorted."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable
from urllib.parse import unquote

import certifi
import httpx
import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils import kucoin_client
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_client import (
    ErrorKind,
    HttpSettings,
    KucoinCallError,
    call,
    classify_transport_error,
    make_client,
)
from ansible_collections.tradebot.kucoin.plugins.module_utils.kucoin_signing import Credentials, hmac_base64

CREDS = Credentials("key-abcdef123456", "secret-UNIT-9d1e", "pass-UNIT-44", 2)
BASE = "https://kucoin.test"


def kucoin(status: int, code: str, data: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "data": data, "msg": f"msg-{code}"}, headers=headers)


class Script:
    """A fake KuCoin answering from a list; records every request it got."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer


def run(script: Script, sleeps: list[float] | None = None, **kwargs: object) -> kucoin_client.KucoinReply:
    slept = sleeps if sleeps is not None else []
    with make_client(HttpSettings(timeout=3), transport=httpx.MockTransport(script)) as client:
        return call(client, "GET", BASE, "/api/v1/user/api-key", sleep=slept.append, **kwargs)  # type: ignore[arg-type]


def test_success_is_http_200_with_code_200000_and_carries_signed_headers() -> None:
    script = Script(kucoin(200, "200000", {"apiKey": "x"}))
    reply = run(script, credentials=CREDS)
    assert reply.data == {"apiKey": "x"}
    assert reply.attempts == 1
    sent = script.requests[0]
    assert sent.headers["KC-API-KEY"] == CREDS.api_key
    assert sent.headers["KC-API-PASSPHRASE"] == hmac_base64(CREDS.api_secret, CREDS.api_passphrase)
    prehash = sent.headers["KC-API-TIMESTAMP"] + "GET/api/v1/user/api-key"
    assert sent.headers["KC-API-SIGN"] == hmac_base64(CREDS.api_secret, prehash)


def test_public_call_sends_no_auth_headers() -> None:
    script = Script(kucoin(200, "200000", 1))
    run(script)
    assert not [h for h in script.requests[0].headers if h.lower().startswith("kc-api")]


def test_query_is_encoded_on_the_wire_and_signed_raw() -> None:
    script = Script(kucoin(200, "200000", {}))
    run(script, credentials=CREDS, params={"currency": "USDT", "note": "a b/c"})
    sent = script.requests[0]
    target = sent.url.raw_path.decode()
    assert target == "/api/v1/user/api-key?currency=USDT&note=a%20b%2Fc"
    prehash = sent.headers["KC-API-TIMESTAMP"] + "GET" + unquote(target)
    assert sent.headers["KC-API-SIGN"] == hmac_base64(CREDS.api_secret, prehash)


def test_error_code_is_read_even_with_http_200() -> None:
    with pytest.raises(KucoinCallError) as caught:
        run(Script(kucoin(200, "400007")), credentials=CREDS)
    assert (caught.value.kind, caught.value.kucoin_code, caught.value.http_status) == (ErrorKind.KUCOIN, "400007", 200)


@pytest.mark.parametrize(("status", "code"), [(401, "400005"), (401, "400004"), (400, "400002"), (403, "400006")])
def test_auth_errors_are_never_retried(status: int, code: str) -> None:
    script = Script(kucoin(status, code), kucoin(200, "200000"))
    with pytest.raises(KucoinCallError) as caught:
        run(script, credentials=CREDS)
    assert len(script.requests) == 1
    assert caught.value.kucoin_code == code
    assert caught.value.server_message == f"msg-{code}"


def test_429_waits_for_the_reset_header_then_succeeds_with_a_fresh_signature() -> None:
    limited = kucoin(429, "429000", headers={"gw-ratelimit-reset": "750", "gw-ratelimit-remaining": "0"})
    script = Script(limited, kucoin(200, "200000", {"ok": 1}))
    sleeps: list[float] = []
    reply = run(script, sleeps, credentials=CREDS)
    assert reply.attempts == 2
    assert sleeps == [0.75]
    assert all("KC-API-SIGN" in r.headers for r in script.requests)


def test_429_wait_is_capped() -> None:
    limited = kucoin(429, "429000", headers={"gw-ratelimit-reset": "29000"})
    sleeps: list[float] = []
    with make_client(HttpSettings(), transport=httpx.MockTransport(Script(limited, kucoin(200, "200000")))) as c:
        call(c, "GET", BASE, "/api/v1/timestamp", sleep=sleeps.append, max_wait_s=2.0)
    assert sleeps == [2.0]


def test_retries_are_bounded() -> None:
    script = Script(*[kucoin(429, "429000", headers={"gw-ratelimit-reset": "10"}) for _attempt in range(10)])
    sleeps: list[float] = []
    with pytest.raises(KucoinCallError) as caught:
        run(script, sleeps)
    assert len(script.requests) == kucoin_client.MAX_ATTEMPTS == 4
    assert len(sleeps) == 3
    assert (caught.value.kucoin_code, caught.value.http_status, caught.value.attempts) == ("429000", 429, 4)


def test_5xx_is_retried_with_backoff() -> None:
    html = httpx.Response(502, text="<html>bad gateway</html>")
    script = Script(kucoin(500, "500000"), html, kucoin(200, "200000", 5))
    sleeps: list[float] = []
    assert run(script, sleeps).data == 5
    assert sleeps == [0.25, 0.5]


def test_persistent_5xx_without_json_is_reported_as_malformed_with_its_status() -> None:
    script = Script(*[httpx.Response(503, text="<html>down</html>") for _attempt in range(4)])
    with pytest.raises(KucoinCallError) as caught:
        run(script)
    assert (caught.value.kind, caught.value.http_status) == (ErrorKind.MALFORMED, 503)
    assert "down" in caught.value.detail


@pytest.mark.parametrize("body", [b"<html>proxy login</html>", b'{"no":"code"}', b"[1,2]", b"\xff\xfe", b""], ids=repr)
def test_a_body_that_is_not_kucoins_json_is_malformed_and_not_retried(body: bytes) -> None:
    script = Script(httpx.Response(200, content=body), kucoin(200, "200000"))
    with pytest.raises(KucoinCallError) as caught:
        run(script)
    assert caught.value.kind == ErrorKind.MALFORMED
    assert len(script.requests) == 1


def _raiser(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("timed out"), ErrorKind.TIMEOUT),
        (httpx.ConnectTimeout("timed out"), ErrorKind.TIMEOUT),
        (httpx.ProxyError("407 Proxy Authentication Required"), ErrorKind.PROXY),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), ErrorKind.CONNECTION),
        (httpx.ConnectError("[Errno 111] Connection refused"), ErrorKind.CONNECTION),
        (httpx.ConnectError("[Errno -2] Name or service not known"), ErrorKind.DNS),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), ErrorKind.TLS),
        (httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."), ErrorKind.BAD_URL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v,
)
def test_transport_errors_are_sorted_and_not_retried(exc: Exception, kind: str) -> None:
    script = Script(_raiser(exc), kucoin(200, "200000"))
    with pytest.raises(KucoinCallError) as caught:
        run(script, credentials=CREDS)
    assert caught.value.kind == kind
    assert len(script.requests) == 1
    assert caught.value.__cause__ is None


def _chained(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as cause:
            raise outer from cause
    except Exception as exc:
        return exc


def test_classification_follows_the_cause_chain() -> None:
    gai = socket.gaierror(socket.EAI_NONAME, "lookup failed")
    assert classify_transport_error(_chained(httpx.ConnectError("boom"), gai)) == ErrorKind.DNS
    cert = ssl.SSLCertVerificationError(1, "verify failed")
    assert classify_transport_error(_chained(httpx.ConnectError("boom"), cert)) == ErrorKind.TLS
    assert classify_transport_error(_chained(httpx.ConnectError("boom"), ConnectionResetError())) == "connection"
    assert classify_transport_error(ValueError("odd")) == ErrorKind.UNEXPECTED


def test_a_real_refused_connection(unused_tcp_port: int) -> None:
    with make_client(HttpSettings(timeout=2)) as client, pytest.raises(KucoinCallError) as caught:
        call(client, "GET", f"http://127.0.0.1:{unused_tcp_port}", "/api/v1/timestamp")
    assert caught.value.kind == ErrorKind.CONNECTION
    assert "refused" in caught.value.detail.lower()


def test_a_header_value_the_client_refuses_is_quoted_in_the_detail() -> None:
    # Why key_check checks values before sending and masks escaped forms: h11 quotes the refused value.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        v1 = Credentials("key-abcdef123456", "secret-UNIT-9d1e", "pass-UNIT-LEAK\n", 1)
        with make_client(HttpSettings(timeout=2)) as client, pytest.raises(KucoinCallError) as caught:
            call(client, "GET", f"http://127.0.0.1:{port}", "/api/v1/user/api-key", credentials=v1)
    assert "pass-UNIT-LEAK\\n" in caught.value.detail
    assert "pass-UNIT-LEAK\n" not in caught.value.detail  # so masking the value as given would miss it


def test_a_proxy_password_stays_out_of_repr() -> None:
    assert "Zq-PROXY" not in repr(HttpSettings(proxy="http://bot:Zq-PROXY@proxy.test:3128"))


@pytest.fixture
def unused_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("has_proxy_arg", "keyword"), [(True, "proxy"), (False, "proxies")])
def test_client_options_fit_httpx_0_23_to_0_28(
    monkeypatch: pytest.MonkeyPatch, has_proxy_arg: bool, keyword: str
) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(kucoin_client, "_client_accepts", lambda name: has_proxy_arg and name == "proxy")
    monkeypatch.setattr(kucoin_client.httpx, "Client", lambda **kwargs: seen.update(kwargs))
    make_client(HttpSettings(timeout=4, validate_certs=False, proxy="http://127.0.0.1:3128"))
    assert seen[keyword] == "http://127.0.0.1:3128"
    assert seen["verify"] is False
    make_client(HttpSettings(ca_path=certifi.where()))
    assert isinstance(seen["verify"], ssl.SSLContext), "a CA path string is deprecated from httpx 0.28"


def test_the_installed_httpx_accepts_the_client_options() -> None:
    with make_client(HttpSettings(timeout=4, proxy="http://127.0.0.1:3128", ca_path=certifi.where())) as client:
        assert client.timeout.read == 4


def test_request_body_is_signed_and_sent() -> None:
    script = Script(kucoin(200, "200000"))
    with make_client(HttpSettings(), transport=httpx.MockTransport(script)) as client:
        call(client, "POST", BASE, "/api/v1/deposit-addresses", credentials=CREDS, body='{"currency":"BTC"}')
    sent = script.requests[0]
    assert json.loads(sent.content) == {"currency": "BTC"}
    prehash = sent.headers["KC-API-TIMESTAMP"] + 'POST/api/v1/deposit-addresses{"currency":"BTC"}'
    assert sent.headers["KC-API-SIGN"] == hmac_base64(CREDS.api_secret, prehash)
