"""The container recipes are well formed, without needing a Docker engine."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
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
