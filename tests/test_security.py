"""Security: the payload codec and its endpoint, sessions (rotated at login, revoked at logout),
revocable API tokens, headers, production settings."""

import base64
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from temporalio.api.common.v1 import Payload

from admin.accounts import issue_token, set_account
from admin.app import create_app
from admin.security import SESSION_COOKIE
from config.settings import Settings
from domain.models import Customer
from domain.vocabulary import Role
from encryption.payload_codec import ENCODING, KEY_ID, EncryptionCodec, PayloadKeyError, new_key_spec, parse_keys
from store.engine import transaction
from store.tables import StaffSession
from temporal_client.connection import data_converter

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "mật-khẩu-an-toàn-1"
UI = "http://127.0.0.1:8233"


# --- the codec ---


async def test_codec_encrypts_with_the_first_key_and_decrypts_with_any() -> None:
    old, new = new_key_spec("k1"), new_key_spec("k2")
    before = EncryptionCodec(parse_keys(old))
    after = EncryptionCodec(parse_keys(f"{new},{old}"))  # rotated: k2 encrypts, k1 still decrypts
    plain = Payload(metadata={"encoding": b"json/plain"}, data='{"name":"Lê Thị Mai"}'.encode())
    [sealed] = await before.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert "Lê Thị Mai".encode() not in sealed.data
    assert (await after.decode([sealed])) == [plain]
    [resealed] = await after.encode([plain])
    assert resealed.metadata[KEY_ID] == b"k2" and resealed.data != sealed.data
    with pytest.raises(PayloadKeyError, match="not configured"):
        await before.decode([resealed])  # k2 unknown to the old process
    [unencrypted] = await after.decode([plain])
    assert unencrypted == plain  # histories written before encryption still read


async def test_codec_refuses_a_tampered_payload_or_a_moved_key_id() -> None:
    codec = EncryptionCodec(parse_keys(f"{new_key_spec('a')},{new_key_spec('b')}"))
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(PayloadKeyError, match="failed authentication"):
        await codec.decode([flipped])
    moved = Payload(metadata={**sealed.metadata, KEY_ID: b"b"}, data=sealed.data)
    with pytest.raises(PayloadKeyError):
        await codec.decode([moved])


@pytest.mark.parametrize("spec", ["", "k1", "k1=not*base64", "k1=" + base64.b64encode(b"short").decode()])
def test_bad_key_lists_are_refused_clearly(spec: str) -> None:
    with pytest.raises(PayloadKeyError):
        parse_keys(spec)


async def test_the_data_converter_encrypts_pydantic_payloads(tmp_path: Path) -> None:
    converter = data_converter(Settings(data_dir=tmp_path, payload_keys=new_key_spec("t")))
    [payload] = await converter.encode([Customer(name="Đỗ Văn Hùng", phone="0987654321")])
    assert payload.metadata["encoding"] == ENCODING and b"0987654321" not in payload.data
    assert (await converter.decode([payload], [Customer]))[0].name == "Đỗ Văn Hùng"


# --- the admin app ---


class Browser:
    def __init__(self, app: Any) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test")

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        return await self.http.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": token.group(1)})  # fmt: skip


@pytest.fixture
async def app(settings: Settings, sessions: Any) -> AsyncIterator[Any]:
    async with transaction(sessions) as session:
        await set_account(session, "lan.cs", Role.CS_AGENT, "CS", PASSWORD)
        await set_account(session, "thu.billing", Role.SUPERVISOR, "BILLING", PASSWORD)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_codec_endpoint_is_for_logged_in_staff_and_the_temporal_ui(app: Any, sessions: Any) -> None:
    async with transaction(sessions) as session:
        token = await issue_token(session, "lan.cs")
    sealed = (await app.state.codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"Nguyen"')]))[0]
    body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                          "data": base64.b64encode(sealed.data).decode()}]}  # fmt: skip
    http = Browser(app).http

    anonymous = await http.post("/codec/decode", json=body, headers={"Origin": UI})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
    assert anonymous.headers["access-control-allow-origin"] == UI  # so the UI can read the refusal

    preflight = await http.options("/codec/decode", headers={"Origin": UI, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-credentials"] == "true"
    assert "X-Namespace" in preflight.headers["access-control-allow-headers"]
    elsewhere = await http.options("/codec/decode", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in elsewhere.headers

    decoded = await http.post("/codec/decode", json=body, headers={"Authorization": f"Bearer {token}", "Origin": UI})
    assert decoded.status_code == 200, decoded.text
    [plain] = decoded.json()["payloads"]
    assert base64.b64decode(plain["data"]) == b'"Nguyen"'

    browser = Browser(app)
    await browser.login("lan.cs")  # the UI's call carries the admin's session cookie
    assert (await browser.http.post("/codec/decode", json=body)).status_code == 200
    # Issue 12: an encoder open to staff let them write decisions in anyone's name.
    assert (await browser.http.post("/codec/encode", json={"payloads": [plain]})).status_code == 403

    for bad in ({"payloads": "x"}, {"payloads": [{"data": "***"}]}, {"nothing": 1}):
        refused = await browser.http.post("/codec/decode", json=bad)
        assert refused.status_code == 422 and "Traceback" not in refused.text
    forged = body | {"payloads": [{**body["payloads"][0], "data": base64.b64encode(b"x" * 40).decode()}]}
    assert (await browser.http.post("/codec/decode", json=forged)).json()["error"] == "undecodable"


async def test_session_is_new_at_each_login_and_dies_at_logout(app: Any, sessions: Any) -> None:
    first, second = Browser(app), Browser(app)
    await first.login("lan.cs")
    await second.login("lan.cs")
    cookie_one, cookie_two = first.http.cookies[SESSION_COOKIE], second.http.cookies[SESSION_COOKIE]
    assert cookie_one != cookie_two
    assert (await first.http.get("/", follow_redirects=False)).status_code == 200

    stolen = Browser(app)
    stolen.http.cookies.set(SESSION_COOKIE, cookie_one)
    assert (await stolen.http.get("/", follow_redirects=False)).status_code == 200
    home = await first.http.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf
    await first.http.post("/logout", data={"csrf_token": csrf.group(1)})
    # The copied cookie is dead too: the session was revoked in the store, not just forgotten.
    assert (await stolen.http.get("/", follow_redirects=False)).headers["location"] == "/login"
    api = await stolen.http.get("/api/v1/complaints")
    assert api.status_code == 401
    assert (await second.http.get("/", follow_redirects=False)).status_code == 200  # other sessions live on

    async with transaction(sessions) as session:  # a new password signs out everywhere
        await set_account(session, "lan.cs", Role.CS_AGENT, "CS", PASSWORD + "-2")
        rows = (await session.scalars(select(StaffSession).where(StaffSession.username == "lan.cs"))).all()
        assert rows and all(r.revoked_at is not None for r in rows)
    assert (await second.http.get("/", follow_redirects=False)).headers["location"] == "/login"


async def test_api_tokens_are_revocable(app: Any, sessions: Any, settings: Settings) -> None:
    async with transaction(sessions) as session:
        token = await issue_token(session, "lan.cs")
        other = await issue_token(session, "thu.billing")
    http = Browser(app).http
    auth = {"Authorization": f"Bearer {token}"}
    assert (await http.get("/api/v1/complaints", headers=auth)).status_code == 200
    assert (await http.delete("/api/v1/token", headers=auth)).status_code == 204
    gone = await http.get("/api/v1/complaints", headers=auth)
    assert gone.status_code == 401 and gone.json()["error"] == "unauthorized"

    env = os.environ | {"COMPLAINTS_DATABASE_URL": settings.effective_database_url,
                        "COMPLAINTS_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    revoked = subprocess.run([sys.executable, "-m", "admin", "token", "thu.billing", "--revoke"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert revoked.returncode == 0 and "token revoked" in revoked.stdout, revoked.stderr
    assert (await http.get("/api/v1/complaints", headers={"Authorization": f"Bearer {other}"})).status_code == 401


async def test_security_headers(app: Any, settings: Settings) -> None:
    page = await Browser(app).http.get("/login")
    csp = page.headers["content-security-policy"]
    script = re.search(r"script-src ([^;]+)", csp)
    assert script and script.group(1).strip() == "'self'" and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in page.headers  # plain HTTP: HSTS would be a lie
    behind_https = create_app(settings.model_copy(update={"secure_cookies": True}))
    async with behind_https.router.lifespan_context(behind_https):
        secure = await Browser(behind_https).http.get("/login")
    assert secure.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "secure" in secure.headers["set-cookie"].lower()


def test_production_takes_its_secrets_from_the_environment_only(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as missing:
        Settings(_env_file=None, environment="production", data_dir=tmp_path, demo_accounts=False,
                 payload_keys="", secret_key="", database_url="")  # fmt: skip
    for name in ("COMPLAINTS_SECRET_KEY", "COMPLAINTS_PAYLOAD_KEYS", "COMPLAINTS_DATABASE_URL"):
        assert name in str(missing.value)
    with pytest.raises(ValidationError, match="demo accounts"):
        Settings(_env_file=None, environment="production", data_dir=tmp_path, payload_keys=new_key_spec("p"),
                 secret_key="s" * 32, database_url="postgresql+asyncpg://x/y", demo_accounts=True)  # fmt: skip
    assert not list(tmp_path.iterdir()), "production generated a secret on disk"


@pytest.mark.parametrize("path", ["/api/v1/complaints", "/complaints"])
async def test_a_store_that_is_down_gets_a_clear_503(tmp_path: Path, path: str) -> None:
    closed_port = "postgresql+asyncpg://complaints@127.0.0.1:9/complaints"  # nothing listens on port 9
    down = create_app(Settings(data_dir=tmp_path, database_url=closed_port))
    cookie, _ = down.state.signer.dump("lan.cs")  # a signed session: checking it needs the store
    async with down.router.lifespan_context(down):
        response = await Browser(down).http.get(path, headers={"Authorization": "Bearer kn_x"} if "api" in path else {},
                                                cookies={SESSION_COOKIE: cookie})  # fmt: skip
    assert response.status_code == 503, response.text
    assert "Traceback" not in response.text
    if path.startswith("/api/"):
        assert response.json()["error"] == "unavailable"
