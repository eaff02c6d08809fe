"""The production shape (docker-compose.yml and deploy/) resolves and is wired as designed.

Runs the real `docker-compose config` (Debian's docker-compose; no Docker engine needed)
and checks the resolved file, so interpolation, anchors and required secrets are tested
the way Compose itself reads them.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from config.settings import Settings
from domain.search_index import CLI_TYPES

ROOT = Path(__file__).resolve().parent.parent
SETUP_SH = ROOT / "deploy" / "temporal" / "setup.sh"
POSTGRES_INIT = ROOT / "deploy" / "postgres"
DYNAMIC_CONFIG = ROOT / "deploy" / "temporal" / "dynamicconfig" / "development.yaml"

SECRETS = {
    "POSTGRES_PASSWORD": "pg-superuser-secret-4711",
    "COMPLAINTS_DB_PASSWORD": "complaints-app-secret-0815",
    "COMPLAINTS_SECRET_KEY": "session-signing-secret-2342",
    "COMPLAINTS_PAYLOAD_KEYS": "k1=" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode(),
}
SERVICES = {
    "postgresql",
    "temporal",
    "temporal-admin-tools",
    "temporal-ui",
    "mailcatcher",
    "migrate",
    "worker",
    "admin",
}
APP_SERVICES = ("mailcatcher", "migrate", "worker", "admin")


def _docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None and Path("/usr/bin/docker-compose").exists():
        found = "/usr/bin/docker-compose"
    if found is None:
        pytest.fail(
            "docker-compose is not installed: this test needs the `docker-compose` binary "
            "(Debian: `apt-get install docker-compose`, which `make` installs). "
            "It only runs `docker-compose config`; no Docker engine is needed."
        )
    return found


def _run_config(tmp_path: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with a clean environment: only PATH, HOME and `secrets`.

    An empty --env-file keeps a developer's ./.env (read by Compose for interpolation)
    out of the test.
    """
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **secrets}
    return subprocess.run(
        [_docker_compose(), "--env-file", str(empty_env_file), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = _run_config(tmp_path_factory.mktemp("compose"), SECRETS)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict) and "services" in config, result.stdout
    return config


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


# --- normalisers: Compose v1 and v2 print some fields in different shapes ------------


def _env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def _command(service: dict[str, Any], key: str = "command") -> list[str]:
    raw = service.get(key) or []
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def _ports(service: dict[str, Any]) -> set[tuple[str, str]]:
    ports = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.add((str(port.get("published")), str(port.get("target"))))
        else:
            host, _, container = str(port).rpartition(":")
            ports.add((host.rpartition(":")[2], container.split("/")[0]))
    return ports


def _volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every volume; a bind mount's source is an absolute path."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            source, target = str(volume).split(":")[:2]
            mounts.append((source, target))
    return mounts


def _bind_source(service: dict[str, Any], target: str) -> Path:
    for source, mount_target in _volumes(service):
        if mount_target == target:
            return Path(source)
    raise AssertionError(f"nothing is mounted at {target}: {service.get('volumes')}")


def _setup_sh_search_attributes() -> dict[str, str]:
    block = re.search(r'^SEARCH_ATTRIBUTES="(.*?)"', SETUP_SH.read_text(), re.MULTILINE | re.DOTALL)
    assert block, 'deploy/temporal/setup.sh has no SEARCH_ATTRIBUTES="..." block'
    return dict(line.strip().split("=", 1) for line in block.group(1).splitlines() if line.strip())


# --- the tests -----------------------------------------------------------------------


def test_all_services_are_defined(services: dict[str, Any]) -> None:
    assert SERVICES <= set(services), f"missing: {sorted(SERVICES - set(services))}"


def test_app_services_share_the_image_built_from_this_project(services: dict[str, Any]) -> None:
    worker = services["worker"]
    build = worker.get("build")
    assert build, "the worker must be built from the project's Dockerfile"
    context = build if isinstance(build, str) else build.get("context")
    assert Path(context).resolve() == ROOT
    assert (build if isinstance(build, str) else build.get("dockerfile", "Dockerfile")) in (context, "Dockerfile")
    assert (ROOT / "Dockerfile").is_file()
    for name in APP_SERVICES:
        assert services[name].get("image") == worker.get("image"), f"{name} must run the app image"
        assert services[name].get("build") == build, f"{name} must build the same image"


def test_worker_runs_scalable_and_stops_gracefully(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert _command(worker) == ["python", "worker.py"]
    assert int(worker["deploy"]["replicas"]) >= 2
    assert "container_name" not in worker, "a fixed container name would prevent --scale"
    assert not worker.get("ports"), "published ports would prevent --scale"
    assert worker.get("stop_grace_period") in ("60s", "1m", "1m0s", 60, "60")
    assert worker.get("restart") == "unless-stopped"


def test_one_shot_services_run_before_worker_and_admin(services: dict[str, Any]) -> None:
    assert _command(services["migrate"]) == ["alembic", "upgrade", "head"]
    assert services["migrate"].get("restart") in ("no", None)
    assert services["temporal-admin-tools"].get("restart") in ("no", None)
    for name in ("worker", "admin"):
        depends = _depends_on(services[name])
        assert depends.get("migrate") == "service_completed_successfully", name
        assert depends.get("temporal-admin-tools") == "service_completed_successfully", name
        assert depends.get("postgresql") == "service_healthy", name
        assert "temporal" in depends, name


def test_postgresql_has_healthcheck_volume_and_init_script(services: dict[str, Any]) -> None:
    postgresql = services["postgresql"]
    assert re.fullmatch(r"postgres:\d+(\.\d+)*(-\w+)?", postgresql["image"]), "pin postgres' major version"
    healthcheck = postgresql.get("healthcheck") or {}
    assert healthcheck.get("test") and "pg_isready" in " ".join(_command(healthcheck, "test"))
    assert "/var/lib/postgresql/data" in [target for _, target in _volumes(postgresql)]
    init_dir = _bind_source(postgresql, "/docker-entrypoint-initdb.d")
    assert init_dir.resolve() == POSTGRES_INIT
    scripts = sorted(POSTGRES_INIT.glob("*.sh"))
    assert scripts, "deploy/postgres has no init script"
    env = _env(postgresql)
    assert env["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert env["COMPLAINTS_DB_PASSWORD"] == SECRETS["COMPLAINTS_DB_PASSWORD"]
    for script in scripts:
        # The image runs executable *.sh files and sources the others.
        assert os.access(script, os.X_OK), f"{script} must be executable"
        text = script.read_text()
        assert "COMPLAINTS_DB_PASSWORD" in text and "CREATE DATABASE" in text
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr


def test_temporal_server_runs_on_postgresql(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    image, _, tag = temporal["image"].partition(":")
    assert image == "temporalio/auto-setup" and re.fullmatch(r"\d+\.\d+\.\d+", tag), temporal["image"]
    env = _env(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_USER"] and env["POSTGRES_PWD"] == SECRETS["POSTGRES_PASSWORD"]
    assert _depends_on(temporal).get("postgresql") == "service_healthy"
    dynamic_dir = _bind_source(temporal, "/etc/temporal/config/dynamicconfig")
    assert dynamic_dir.resolve() == DYNAMIC_CONFIG.parent
    assert env["DYNAMIC_CONFIG_FILE_PATH"].endswith("dynamicconfig/" + DYNAMIC_CONFIG.name)
    assert isinstance(yaml.safe_load(DYNAMIC_CONFIG.read_text()), dict)
    assert ("7233", "7233") in _ports(temporal)


def test_temporal_ui(services: dict[str, Any]) -> None:
    ui = services["temporal-ui"]
    assert re.fullmatch(r"temporalio/ui:\d+\.\d+\.\d+", ui["image"]), ui["image"]
    assert _env(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert ("8233", "8080") in _ports(ui)


def test_admin_tools_register_every_search_attribute(services: dict[str, Any]) -> None:
    tools = services["temporal-admin-tools"]
    assert re.fullmatch(r"temporalio/admin-tools:[\w.-]+", tools["image"]) and "latest" not in tools["image"]
    assert _env(tools)["TEMPORAL_ADDRESS"] == "temporal:7233"
    mounted = [Path(source).resolve() for source, _ in _volumes(tools)]
    assert SETUP_SH in mounted, "deploy/temporal/setup.sh must be mounted into temporal-admin-tools"
    entrypoint = _command(tools, "entrypoint") + _command(tools)
    assert any(part.endswith("setup.sh") for part in entrypoint), entrypoint

    text = SETUP_SH.read_text()
    for name, type_ in CLI_TYPES.items():
        assert f"{name}={type_}" in text, f"setup.sh does not create {name} ({type_})"
    assert _setup_sh_search_attributes() == CLI_TYPES
    assert "temporal operator search-attribute create" in text
    assert "temporal operator namespace update" in text and "--retention" in text
    default = re.search(r"TEMPORAL_RETENTION:=(\w+)", text)
    assert default is not None, "setup.sh gives no default retention"
    retention = _env(tools).get("TEMPORAL_RETENTION") or default.group(1)
    assert retention == "3650d"


def test_setup_script_parses() -> None:
    for shell in ("bash", "sh"):
        result = subprocess.run([shell, "-n", str(SETUP_SH)], capture_output=True, text=True)
        assert result.returncode == 0, f"{shell} -n {SETUP_SH}: {result.stderr}"


@pytest.mark.parametrize("name", ["worker", "admin", "migrate"])
def test_app_settings_point_at_postgresql_temporal_and_mail(services: dict[str, Any], name: str) -> None:
    env = _env(services[name])
    url = env["COMPLAINTS_DATABASE_URL"]
    assert url == f"postgresql+asyncpg://complaints:{SECRETS['COMPLAINTS_DB_PASSWORD']}@postgresql:5432/complaints"
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["TEMPORAL_NAMESPACE"] == "default"
    assert env["COMPLAINTS_SMTP_HOST"] == "mailcatcher"
    assert env["COMPLAINTS_SMTP_PORT"] == "1025"


def test_admin_serves_on_8000_without_demo_accounts(services: dict[str, Any]) -> None:
    admin = services["admin"]
    assert _command(admin) == ["python", "-m", "admin", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert _env(admin)["COMPLAINTS_DEMO_ACCOUNTS"].lower() == "false"
    assert ("8000", "8000") in _ports(admin)


def _settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the service's process reads from its resolved environment (and nothing else)."""
    for key in list(os.environ):
        if key.startswith(("COMPLAINTS_", "TEMPORAL_")):
            monkeypatch.delenv(key)
    for key, value in _env(service).items():
        monkeypatch.setenv(key, str(value))
    return Settings(_env_file=None)


@pytest.mark.parametrize("name", ["worker", "admin", "migrate"])
def test_app_runs_in_production_mode_with_secrets_from_the_environment(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resolved environment is what the process's settings read: production mode, no
    demo accounts, and the production validator (secrets present) passes."""
    env = _env(services[name])
    assert env["COMPLAINTS_ENVIRONMENT"] == "production" and env["COMPLAINTS_DEMO_ACCOUNTS"] == "false"
    settings = _settings_of(services[name], monkeypatch)
    assert settings.environment == "production" and not settings.demo_accounts
    assert settings.effective_payload_keys() == SECRETS["COMPLAINTS_PAYLOAD_KEYS"]
    assert settings.effective_secret_key() == SECRETS["COMPLAINTS_SECRET_KEY"]


def test_temporal_ui_decodes_through_the_admin_codec(services: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12: the UI sends the staff member's admin session to /codec (include credentials);
    the admin grants CORS with credentials to the UI's published origin only; and the codec is the
    admin's published address on the UI's host, so the session cookie (SameSite=Lax) goes along."""
    ui = _env(services["temporal-ui"])
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert ui.get("TEMPORAL_CODEC_PASS_ACCESS_TOKEN", "false") == "false"  # the UI has no login of its own
    settings = _settings_of(services["admin"], monkeypatch)
    ui_url = urlsplit(settings.temporal_ui_url)
    [(ui_port, _)] = _ports(services["temporal-ui"])
    assert ui_url.port == int(ui_port)
    assert settings.codec_origins == {f"{ui_url.scheme}://{ui_url.netloc}"}
    endpoint = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"])
    [(admin_port, _)] = _ports(services["admin"])
    assert (endpoint.scheme, endpoint.hostname, endpoint.port, endpoint.path) == (
        ui_url.scheme, ui_url.hostname, int(admin_port), "/codec")  # fmt: skip


def test_mailcatcher(services: dict[str, Any]) -> None:
    mailcatcher = services["mailcatcher"]
    assert _command(mailcatcher) == [
        *("python", "-m", "localstack.mailcatcher"),
        *("--host", "0.0.0.0", "--port", "1025", "--dir", "/data/mail"),
    ]
    assert "/data" in [target for _, target in _volumes(mailcatcher)]
    assert "COMPLAINTS_DATABASE_URL" not in _env(mailcatcher), "the mail catcher needs no database password"


def test_every_service_that_takes_in_files_shares_one_attachment_volume(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    """The admin (staff, public form) and the worker and SMTP gateway (mail in) write attachments
    and the admin serves them: each on its own disk would show staff a file as missing."""
    writers = ("admin", "worker", "smtp-gateway")
    folders = {_env(services[name])["COMPLAINTS_ATTACHMENT_DIR"] for name in writers}
    assert len(folders) == 1, folders
    (folder,) = folders
    sources = {source for name in writers for source, target in _volumes(services[name]) if target == folder}
    assert len(sources) == 1, f"{writers} must mount one volume at {folder}: {sources}"
    (source,) = sources
    assert not source.startswith("/") and source.split("_")[-1] in compose["volumes"], source
    assert re.search(rf"mkdir -p [^\n]*{folder}", (ROOT / "Dockerfile").read_text()), (
        f"the image creates {folder} (owned by the app user), so a fresh volume is writable"
    )


def test_third_party_images_are_pinned(services: dict[str, Any]) -> None:
    for name in SERVICES - set(APP_SERVICES):
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_no_password_is_baked_in(tmp_path: Path, missing: str) -> None:
    secrets = {key: value for key, value in SECRETS.items() if key != missing}
    result = _run_config(tmp_path, secrets)
    assert result.returncode != 0, f"docker-compose config succeeded without {missing}: a default password is baked in"
    assert missing in result.stderr, result.stderr


def test_resolved_file_holds_no_other_password(services: dict[str, Any]) -> None:
    """Every password-looking variable comes from the secrets passed in, never a literal; an
    optional one left unset is empty (e.g. the IMAP password while mail polling is off)."""
    for name, service in services.items():
        for key, value in _env(service).items():
            if re.search(r"PASSWORD|PWD|SECRET|KEYS$", key):
                assert value in [*SECRETS.values(), ""], f"{name}.{key} has a literal value"


def _host_ips(service: dict[str, Any]) -> set[str]:
    """The host address each published port binds ("" for all interfaces)."""
    ips = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ips.add(str(port.get("host_ip") or ""))
        else:
            parts = str(port).split(":")
            ips.add(parts[0] if len(parts) == 3 else "")
    return ips


def test_temporal_is_not_published_to_the_network_and_its_ui_is_read_only(services: dict[str, Any]) -> None:
    """Issue 12 (High): anyone who reached Temporal's frontend or UI could decide as anyone."""
    for name in ("temporal", "temporal-ui"):
        assert _host_ips(services[name]) == {"127.0.0.1"}, (name, services[name].get("ports"))
    env = _env(services["temporal-ui"])
    assert env.get("TEMPORAL_DISABLE_WRITE_ACTIONS") == "true"
    # It still decodes for auditors, with their admin session (credentials sent cross-origin).
    assert env.get("TEMPORAL_CODEC_INCLUDE_CREDENTIALS") == "true"
    assert env.get("TEMPORAL_CODEC_ENDPOINT", "").endswith("/codec")
