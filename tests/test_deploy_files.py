"""The deployment files and documented recipes work: containers (without needing a Docker
engine), the systemd unit, the nginx site, scripts/test and the move to PostgreSQL."""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from screener.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ASTERISK_DOCKERFILE = ROOT / "docker" / "asterisk" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

_VAR = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?:(?P<op>:\?|:-)(?P<arg>[^}]*))?\}")


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":-":
            return arg
        raise AssertionError(f"{name} is required but not set ({arg})")

    return _VAR.sub(one, text).replace("$$", "$")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    current = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            joined.append(current.strip())
        current = ""
    result = []
    for line in joined:
        instruction, _, rest = line.partition(" ")
        result.append((instruction.upper(), rest.strip()))
    return result


def copy_sources(instructions: list[tuple[str, str]]) -> list[str]:
    sources = []
    for instruction, rest in instructions:
        if instruction not in ("COPY", "ADD"):
            continue
        parts = rest.split()
        if any(p.startswith("--from=") for p in parts):
            continue
        parts = [p for p in parts if not p.startswith("--")]
        sources += parts[:-1]
    return sources


# -- docker-compose.yml ----------------------------------------------------------


def test_compose_defines_the_four_services_with_healthchecks() -> None:
    services = compose()["services"]
    assert set(services) == {"asterisk", "screener", "postgres", "mosquitto"}
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", name
    assert "/healthz" in " ".join(services["screener"]["healthcheck"]["test"])


def test_every_bind_mount_and_build_context_exists() -> None:
    data = compose()
    named = set(data.get("volumes") or {})
    for name, service in data["services"].items():
        build = service.get("build")
        if build:
            context = ROOT / build["context"]
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file()
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"


def test_recordings_are_shared_and_asterisk_config_is_mounted() -> None:
    services = compose()["services"]
    asterisk_mounts = dict(v.split(":")[:2] for v in services["asterisk"]["volumes"])
    screener_mounts = dict(v.split(":")[:2] for v in services["screener"]["volumes"])
    assert asterisk_mounts["./asterisk-config"] == "/etc/asterisk/screener"
    assert asterisk_mounts["recordings"] == "/var/spool/asterisk/recording"
    recordings_dir = services["screener"]["environment"]["SCREENER_ARI__RECORDINGS_DIR"]
    assert screener_mounts["recordings"] == recordings_dir
    assert f'VOLUME ["{recordings_dir}"]' in DOCKERFILE.read_text()


def test_secrets_come_from_the_environment_and_example_has_every_variable() -> None:
    text = COMPOSE.read_text()
    example = env_example()
    used = {m["name"] for m in _VAR.finditer(text)}
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    for service in compose()["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search("PASSWORD|SECRET", key):
                assert "${" in str(value), f"{key} must come from .env, not be written here"
    for key, value in example.items():
        if re.search("PASSWORD|SECRET", key):
            assert value == "change-me", f".env.example must not hold a real {key}"
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()  # never baked in


def test_screener_environment_builds_valid_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment = compose()["services"]["screener"]["environment"]
    example = env_example()
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"SCREENER_{name.upper()}", raising=False)
    for key, value in environment.items():
        if key.startswith("SCREENER_"):
            section, _, field = key.removeprefix("SCREENER_").lower().partition("__")
            assert section in Settings.model_fields, f"{key}: no [{section}] section"
            model = Settings.model_fields[section].annotation
            assert model is not None and field in model.model_fields, f"{key}: unknown setting"
        monkeypatch.setenv(key, interpolate(str(value), example))
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database.url.startswith("postgresql+asyncpg://screener:change-me@postgres")
    assert settings.mqtt.enabled and settings.mqtt.host == "mosquitto"
    assert settings.agi.enabled and settings.agi.host == "0.0.0.0"
    assert settings.ari.password.get_secret_value() == "change-me"
    dialplan = ROOT / "asterisk-config" / "extensions.conf"
    if dialplan.exists():  # allowed calls continue into a context the dialplan has
        text = dialplan.read_text()
        assert f"[{settings.ari.continue_context}]" in text
        assert f"exten => {settings.ari.continue_extension}," in text


def test_compose_config_with_docker_client() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client installed")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(
            "the docker client has no compose plugin here "
            f"({(probe.stderr or probe.stdout).strip().splitlines()[0]}); "
            "the YAML checks above still run"
        )
    result = subprocess.run(
        [docker, "compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


# -- Dockerfiles -------------------------------------------------------------------


def test_screener_image_recipe() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    froms = [rest for instruction, rest in instructions if instruction == "FROM"]
    assert all(f.split()[0] == "python:3.11-slim" for f in froms)
    for source in copy_sources(instructions):
        assert (ROOT / source).exists(), f"COPY source {source} missing"
    users = [rest for instruction, rest in instructions if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    final_stage = instructions[max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM") :]
    assert any(ins == "USER" for ins, _ in final_stage)
    healthcheck = [rest for ins, rest in instructions if ins == "HEALTHCHECK"]
    assert healthcheck and "/healthz" in healthcheck[0]
    assert ("ENTRYPOINT", '["screener"]') in instructions
    assert ("CMD", '["run"]') in instructions


def test_dockerignore_keeps_what_the_image_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    ]
    for source in copy_sources(dockerfile_instructions(DOCKERFILE)):
        for pattern in patterns:
            assert not fnmatch.fnmatch(source, pattern), f"{source} is excluded by {pattern}"


def test_asterisk_image_recipe_and_scripts() -> None:
    instructions = dockerfile_instructions(ASTERISK_DOCKERFILE)
    context = ASTERISK_DOCKERFILE.parent
    for source in copy_sources(instructions):
        assert (context / source).exists(), f"COPY source {source} missing"
    run = " ".join(rest for ins, rest in instructions if ins == "RUN")
    assert "apt-get install" in run and "asterisk" in run
    assert "Asterisk 22" in run  # the build refuses another major version
    assert any(ins == "HEALTHCHECK" for ins, _ in instructions)
    cmd = next(rest for ins, rest in instructions if ins == "CMD")
    assert '"-U", "asterisk"' in cmd  # Asterisk drops root at start
    for script in (context / "entrypoint.sh", ROOT / "docker" / "mosquitto" / "start.sh"):
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
        subprocess.run(["sh", "-n", str(script)], check=True)


def test_asterisk_entrypoint_prepares_the_project_config(tmp_path: Path) -> None:
    """Run the real entrypoint over the real asterisk-config/ into a scratch directory."""
    source = ROOT / "asterisk-config"
    if not (source / "ari.conf").exists() or not (source / "http.conf").exists():
        pytest.skip("asterisk-config/ has no ari.conf and http.conf to prepare")
    target = tmp_path / "etc-asterisk"
    target.mkdir()
    secret = "p&ss\\w/rd$1 #x"
    compose_env = compose()["services"]["asterisk"]["environment"]
    result = subprocess.run(
        ["sh", str(ROOT / "docker" / "asterisk" / "entrypoint.sh"), "echo", "started"],
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "ASTERISK_CONFIG_SRC": str(source),
            "ASTERISK_CONFIG_DST": str(target),
            "ARI_USERNAME": compose_env["ARI_USERNAME"],
            "ARI_PASSWORD": secret,
            "ASTERISK_HTTP_BINDADDR": compose_env["ASTERISK_HTTP_BINDADDR"],
        },
    )
    assert result.stdout.strip() == "started"  # it hands over to the command it was given
    copied = sorted(p.name for p in target.iterdir())
    assert copied == sorted(p.name for p in source.glob("*.conf"))

    ari = (target / "ari.conf").read_text().splitlines()
    user = ari.index(f"[{compose_env['ARI_USERNAME']}]")
    section = ari[user + 1 :]
    section = section[: next((i for i, x in enumerate(section) if x.startswith("[")), None)]
    assert f"password = {secret}" in section
    assert "password_format = plain" in section
    http = (target / "http.conf").read_text()
    assert "bindaddr = 0.0.0.0" in http
    assert "bindaddr = 127.0.0.1" not in http
    for name in copied:
        if name not in ("ari.conf", "http.conf"):
            assert (target / name).read_text() == (source / name).read_text()


def test_published_rtp_range_matches_the_image_rtp_conf() -> None:
    conf = (ROOT / "docker" / "asterisk" / "rtp.conf").read_text()
    values = dict(re.findall(r"^(rtpstart|rtpend)\s*=\s*(\d+)", conf, re.MULTILINE))
    ports = compose()["services"]["asterisk"]["ports"]
    udp_ranges = [p for p in ports if p.endswith("/udp") and "-" in p]
    expected = f"{values['rtpstart']}-{values['rtpend']}"
    assert udp_ranges == [f"{expected}:{expected}/udp"]


# -- deploy/: the systemd unit and the nginx site ------------------------------------

SYSTEMD_UNIT = ROOT / "deploy" / "systemd" / "screener.service"
NGINX_SITE = ROOT / "deploy" / "nginx" / "screener.conf"


def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """``[Section]`` -> key -> every value (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_runs_screener_as_its_own_user_with_a_data_directory() -> None:
    service = unit_settings(SYSTEMD_UNIT.read_text())["Service"]
    one = {key: values[-1] for key, values in service.items()}
    assert one["User"] == "screener" and one["Group"] == "screener"
    program, *arguments = one["ExecStart"].split()
    assert Path(program).name == "screener" and arguments[-1:] == ["run"]
    assert Path(program).is_absolute() and not program.startswith(("/home", "/var/lib"))
    assert "SCREENER_CONFIG=/etc/screener/screener.toml" in service["Environment"]
    assert one["StateDirectory"] == "screener"
    data_dir = Path("/var/lib") / one["StateDirectory"]
    assert Path(one["WorkingDirectory"]) == data_dir
    assert str(data_dir) in one["ReadWritePaths"].split()
    assert one["Restart"] == "on-failure"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
    }.items():
        assert one.get(key) == value, f"{key}={one.get(key)}"
    assert one.get("CapabilityBoundingSet", "x") == ""  # no capabilities at all


def test_service_data_lands_in_the_data_directory() -> None:
    """The service-install database URL of the example puts the database and the web
    secret key in the unit's data directory, the one place the unit lets it write."""
    from screener.settings import DatabaseSettings
    from screener.web.secret import secret_file

    service = unit_settings(SYSTEMD_UNIT.read_text())["Service"]
    data_dir = Path("/var/lib") / service["StateDirectory"][-1]
    example = (ROOT / "screener.example.toml").read_text()
    urls = re.findall(r'^#?\s*url = "(sqlite\+aiosqlite:////[^"]+)"', example, re.MULTILINE)
    assert urls, "the example shows no absolute SQLite path for a service install"
    settings = Settings(database=DatabaseSettings(url=urls[0]))
    assert Path(urls[0].removeprefix("sqlite+aiosqlite:///")).parent == data_dir
    assert secret_file(settings).parent == data_dir


def test_systemd_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify also wants ExecStart's program to exist: point it at one that does.
    unit = tmp_path / "screener.service"
    unit.write_text(
        re.sub(r"^ExecStart=.*$", "ExecStart=/bin/true", SYSTEMD_UNIT.read_text(), flags=re.M)
    )
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False
    )
    messages = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "sysinit.target" not in line  # no full systemd in containers
    ]
    assert result.returncode == 0 and messages == [], "\n".join(messages)


def nginx_blocks(text: str) -> list[tuple[str, list[str], list[Any]]]:
    """nginx configuration as (directive, arguments, children) trees."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+', re.sub(r"#[^\n]*", "", text))
    stack: list[list[Any]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == "{":
            node: tuple[str, list[str], list[Any]] = (words[0], words[1:], [])
            stack[-1].append(node)
            stack.append(node[2])
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        elif token == ";":
            stack[-1].append((words[0], words[1:], []))
            words = []
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unbalanced braces"
    return stack[0]


def directives(block: list[Any], name: str) -> list[list[str]]:
    return [args for directive, args, _ in block if directive == name]


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value).groups()  # type: ignore[union-attr]
    return int(number) * units[unit or "s"]


def test_nginx_site_terminates_tls_and_streams_the_live_board() -> None:
    config = nginx_blocks(NGINX_SITE.read_text())
    upstreams = {args[0]: children for name, args, children in config if name == "upstream"}
    servers = [children for name, _, children in config if name == "server"]
    web = Settings().web
    for children in upstreams.values():
        assert directives(children, "server")[0][0] == f"{web.host}:{web.port}"

    plain = [s for s in servers if ["80"] in directives(s, "listen")]
    assert plain and directives(plain[0], "return")[0][:2] == ["301", "https://$host$request_uri"]
    tls = [s for s in servers if ["443", "ssl"] in directives(s, "listen")]
    assert len(tls) == 1
    server = tls[0]
    assert directives(server, "ssl_certificate") and directives(server, "ssl_certificate_key")
    headers = {args[0]: args[1] for args in directives(server, "proxy_set_header")}
    assert headers["X-Forwarded-For"] == "$remote_addr"  # never what the client claims
    assert headers["X-Forwarded-Proto"] == "$scheme"
    locations = {" ".join(args): children for name, args, children in server if name == "location"}
    for where, children in locations.items():
        target = directives(children, "proxy_pass")[0][0]
        assert target.removeprefix("http://") in upstreams, where
        # A location of its own proxy_set_header would drop the server's ones.
        assert not directives(children, "proxy_set_header"), where
    board = locations["= /board/events"]
    assert ["off"] in directives(board, "proxy_buffering")
    assert seconds(directives(board, "proxy_read_timeout")[0][0]) > 15  # the keep-alive
    imports = next(c for w, c in locations.items() if "import" in w)
    pattern = next(w for w in locations if "import" in w).split(maxsplit=1)[1]
    assert re.search(pattern, "/admin/lists/12/import")
    assert directives(imports, "client_max_body_size") == [["4g"]]


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    openssl = shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx (or openssl) is not installed; the structure checks above still run")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=screener.example.org", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    site = re.sub(r"/etc/letsencrypt/live/[^;]*/fullchain\.pem", str(tmp_path / "cert.pem"),
                  NGINX_SITE.read_text())  # fmt: skip
    site = re.sub(r"/etc/letsencrypt/live/[^;]*/privkey\.pem", str(tmp_path / "key.pem"), site)
    (tmp_path / "site.conf").write_text(site)
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {tmp_path / 'site.conf'}; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


# -- scripts/test ----------------------------------------------------------------------


def fake_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    return where / "bin"


@pytest.fixture
def sandbox_path(tmp_path: Path) -> str:
    """PATH whose apt-get and sudo fail loudly, so scripts/test never installs anything."""
    fakes = tmp_path / "fakebin"
    fakes.mkdir()
    for name in ("apt-get", "sudo"):
        (fakes / name).write_text(f'#!/bin/sh\necho "{name} must not run here" >&2\nexit 97\n')
        (fakes / name).chmod(0o755)
    return f"{fakes}:/usr/bin:/bin"


def run_scripts_test(bin_dir: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "test"), "--co", "-q"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": f"{bin_dir}:{path}", "HOME": str(bin_dir.parent)},
    )


def test_scripts_test_refuses_the_environment_of_a_running_service(
    tmp_path: Path, sandbox_path: str
) -> None:
    service_bin = fake_venv(tmp_path / "service-venv")
    program = service_bin / "screener"
    program.write_text(f"#!{service_bin / 'python3'}\nimport time\ntime.sleep(60)\n")
    program.chmod(0o755)
    service = subprocess.Popen([str(program), "--config", "/etc/screener/screener.toml", "run"])
    try:
        result = run_scripts_test(service_bin, sandbox_path)
    finally:
        service.kill()
        service.wait()
    assert result.returncode == 1
    assert f"process {service.pid}" in result.stderr
    assert "sudo systemctl stop screener" in result.stderr
    assert ".venv-test" in result.stderr
    assert "must not run here" not in result.stderr  # it stopped before installing


def test_scripts_test_goes_on_in_an_environment_no_service_uses(
    tmp_path: Path, sandbox_path: str
) -> None:
    service_bin = fake_venv(tmp_path / "service-venv")
    program = service_bin / "screener"
    program.write_text(f"#!{service_bin / 'python3'}\nimport time\ntime.sleep(60)\n")
    program.chmod(0o755)
    service = subprocess.Popen([str(program), "run"])
    try:
        # Another environment, without pip: the script passes the check and then stops
        # at the pip step, which is as far as this test lets it go.
        result = run_scripts_test(fake_venv(tmp_path / "test-venv"), sandbox_path)
    finally:
        service.kill()
        service.wait()
    assert result.returncode != 0
    assert "running Screener service" not in result.stderr
    assert "No module named pip" in result.stderr or "must not run here" in result.stderr


def test_asterisk_image_has_the_voicemail_the_dialplan_uses() -> None:
    dialplan = (ROOT / "asterisk-config" / "extensions.conf").read_text()
    if "VoiceMail(" not in dialplan:
        pytest.skip("the shipped dialplan uses no voicemail")
    run = " ".join(
        rest for ins, rest in dockerfile_instructions(ASTERISK_DOCKERFILE) if ins == "RUN"
    )
    assert "asterisk-voicemail" in run.split()  # Debian's app_voicemail, file storage
    assert "app_voicemail.so" in run  # the build checks the module is there
    assert (ROOT / "asterisk-config" / "voicemail.conf").is_file()
    mounts = dict(v.split(":")[:2] for v in compose()["services"]["asterisk"]["volumes"])
    assert mounts.get("voicemail") == "/var/spool/asterisk/voicemail"  # messages are kept


# -- docs/operations.md: moving from SQLite to PostgreSQL -------------------------------

OPERATIONS = ROOT / "docs" / "operations.md"
AWKWARD_TEXT = 'a "quoted", comma; $HOME\nsecond line'


def operations_shell_blocks() -> list[str]:
    text = OPERATIONS.read_text()
    found = re.findall(r"^( *)```sh\n(.*?)^\1```", text, re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(body) for _, body in found]


def sqlite_columns(db: sqlite3.Connection, table: str) -> list[tuple[str, str, bool, bool]]:
    """(name, declared type, not null, part of the primary key) for each column."""
    return [
        (name, kind.upper(), bool(notnull), bool(pk))
        for _, name, kind, notnull, _, pk in db.execute(f"PRAGMA table_info({table})")
    ]


def fill_every_table(db: sqlite3.Connection) -> dict[str, list[str]]:
    """Two rows in every table: one with NULLs and empty strings, one with awkward text."""
    tables = [
        name
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name != "alembic_version" and not name.startswith("sqlite_")
    ]
    parents = {
        table: {row[3]: row[2] for row in db.execute(f"PRAGMA foreign_key_list({table})")}
        for table in tables
    }
    order: list[str] = []
    while len(order) < len(tables):  # parents first
        order += [t for t in tables if t not in order and set(parents[t].values()) <= {*order, t}]
    for table in order:
        for row in (1, 2):
            values: list[object] = []
            for name, kind, notnull, pk in sqlite_columns(db, table):
                length = int(m[1]) if (m := re.search(r"\((\d+)\)", kind)) else 1000
                if pk or name in parents[table]:
                    value: object = row if "INT" in kind else f"k{row}"
                elif row == 1 and not notnull:
                    value = None
                elif "INT" in kind:
                    value = 7 * row
                elif "BOOL" in kind:
                    value = row - 1
                elif "DATETIME" in kind:
                    value = f"2026-11-2{row} 10:00:0{row}.250000"
                elif "JSON" in kind:
                    value = json.dumps({"text": AWKWARD_TEXT, "n": [row]})
                elif kind in ("FLOAT", "REAL", "DOUBLE", "NUMERIC"):
                    value = 1.5 * row
                else:
                    value = "" if row == 1 else f"{row}{AWKWARD_TEXT}"[:length]
                values.append(value)
            marks = ", ".join("?" for _ in values)
            db.execute(f"INSERT INTO {table} VALUES ({marks})", values)
    db.commit()
    return {t: [c[0] for c in sqlite_columns(db, t) if c[3]] for t in order}


def normalised(kind: str, value: object) -> object:
    if value is None:
        return None
    if "BOOL" in kind:
        return str(value) in ("1", "t", "true")
    if "DATETIME" in kind:
        parsed = datetime.fromisoformat(str(value))
        return parsed.replace(tzinfo=parsed.tzinfo or UTC)
    if "JSON" in kind:
        return json.loads(str(value))
    if "INT" in kind or kind in ("FLOAT", "REAL", "DOUBLE", "NUMERIC"):
        return float(str(value))
    return str(value)


@pytest.mark.postgres
def test_sqlite_to_postgresql_recipe_copies_every_table(tmp_path: Path, pg_url: str) -> None:
    """Run the documented move on a real SQLite file into a real PostgreSQL database."""
    for tool in ("sqlite3", "psql"):
        if shutil.which(tool) is None:
            pytest.skip(f"the {tool} command is not installed")
    from screener.db import migrate

    sqlite_file = tmp_path / "screener.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{sqlite_file}")
    migrate.upgrade(pg_url)
    with sqlite3.connect(sqlite_file) as db:
        keys = fill_every_table(db)

    blocks = operations_shell_blocks()
    copy = next((b for b in blocks if "\\copy" in b), "")
    compare = next((b for b in blocks if "count(*)" in b), "")
    assert copy and compare, "operations.md has no table copy recipe and row-count check"
    documented = re.search(r"^tables='([^']*)'", copy, re.MULTILINE)
    assert documented, "the copy recipe names no tables"
    tables = documented[1].split()
    assert set(tables) == set(keys), "the recipe must copy every table"
    with sqlite3.connect(sqlite_file) as db:
        for position, table in enumerate(tables):
            parents = {row[2] for row in db.execute(f"PRAGMA foreign_key_list({table})")}
            assert parents <= set(tables[:position]), f"{table} is copied before {parents}"

    postgres = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    script = (copy + compare).replace("/var/lib/screener/screener.db", str(sqlite_file))
    script = script.replace("postgresql://screener:PASSWORD@db-host/screener", postgres)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PGTZ": "UTC"},
    )
    assert result.returncode == 0, result.stderr
    counts = [line.split() for line in result.stdout.splitlines()]
    assert sorted(c[0] for c in counts) == sorted(keys)
    assert all(c[1] == c[2] == "2" for c in counts), counts

    with sqlite3.connect(sqlite_file) as db:
        for table, pk in keys.items():
            columns = sqlite_columns(db, table)
            order = ", ".join(pk)
            before = db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            query = subprocess.run(
                ["psql", postgres, "-X", "--csv", "-P", "null=<NULL>", "-c",
                 f"SELECT * FROM {table} ORDER BY {order}"],
                capture_output=True, text=True, check=True, env={**os.environ, "PGTZ": "UTC"},
            )  # fmt: skip
            after = list(csv.reader(io.StringIO(query.stdout)))[1:]
            for old, new in zip(before, after, strict=True):
                for (name, kind, _, _), a, b in zip(columns, old, new, strict=True):
                    b_value = None if b == "<NULL>" else b
                    assert normalised(kind, a) == normalised(kind, b_value), (table, name, a, b)

    # The id counters were moved on: new rows get fresh ids.
    serial = [t for t, pk in keys.items() if pk == ["id"] and t != "calls"]
    assert serial
    for table in serial:
        nextval = subprocess.run(
            ["psql", postgres, "-X", "-tAc",
             f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert int(nextval.stdout) > 2, table
