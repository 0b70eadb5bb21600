"""Settings: TOML file, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from screener.domain.vocabulary import Action
from screener.settings import OTHER_SCREENER_VARIABLES, SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "screener.toml"
    path.write_text(text)
    return path


def test_defaults_work_out_of_the_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.numbers.region == "GB"
    assert settings.database.url.startswith("sqlite+aiosqlite:///")
    assert settings.mqtt.enabled is False


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        '[office]\nsite = "leeds"\nown_numbers = ["0113 123 4567"]\n'
        '[policy.actions]\nwithheld = "block"\n[ari]\npassword = "from-file"\n',
    )
    monkeypatch.setenv("SCREENER_OFFICE__SITE", "york")
    monkeypatch.setenv("SCREENER_ARI__PASSWORD", "from-env")
    settings = load_settings(path)
    assert settings.office.site == "york"
    assert settings.office.own_numbers == ["0113 123 4567"]
    assert settings.policy.actions == {"withheld": Action.BLOCK}
    assert settings.ari.password.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings)


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[numbers]\nregion = "fr"\n')
    monkeypatch.setenv("SCREENER_CONFIG", str(path))
    assert load_settings().numbers.region == "FR"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[database]\nurl = "mysql://x"\n', "database.url"),
        ("[database]\nbogus = 1\n", "database.bogus"),
        ('[numbers]\nregion = "XX"\n', "numbers.region"),
        ("[policy]\nrepeat_calls = 0\n", "policy.repeat_calls"),
        ('[policy.actions]\nwithheld = "ring"\n', "policy.actions.withheld"),
        ('[policy.actions]\nblock_list = "allow"\n', "policy.actions"),
        ('[office]\nsite = "a/b"\n', "office.site"),
        ("[nonsense]\nx = 1\n", "nonsense"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings(write(tmp_path, text))
    assert f"  {key}:" in str(excinfo.value)


def test_bad_environment_value_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCREENER_WEB__PORT", "not-a-port")
    with pytest.raises(SettingsError, match=r"web\.port"):
        load_settings()


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path, "[database\n"))
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "absent.toml")


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "screener.example.toml"
    settings = load_settings(example)
    assert settings.office.site == "main"


def test_unknown_environment_variable_is_named_with_the_close_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCREENER_ARI_URL", "http://pbx:8088")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert "SCREENER_ARI_URL: unknown setting; did you mean SCREENER_ARI__URL?" in str(
        excinfo.value
    )


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("SCREENER_DATABASE_URL", "SCREENER_DATABASE__URL"),
        ("SCREENER_WEB__PROT", "SCREENER_WEB__PORT"),
        ("SCREENER_MQQT__HOST", "SCREENER_MQTT__HOST"),
        ("SCREENER_POLICY_ACTIONS__WITHHELD", None),
        ("SCREENER_NOTHING_LIKE_IT", None),
        ("screener_ari_url", "SCREENER_ARI__URL"),
    ],
)
def test_every_unknown_environment_variable_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, suggestion: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, "1")
    monkeypatch.setenv("SCREENER_OFFICE_SITE", "york")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert f"  {name}: unknown setting" in message
    if suggestion is not None:
        assert f"  {name}: unknown setting; did you mean {suggestion}?" in message
    # Every unknown variable is named at once.
    assert "  SCREENER_OFFICE_SITE: unknown setting; did you mean SCREENER_OFFICE__SITE?" in message


def test_known_and_other_screener_variables_are_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[office]\nsite = "leeds"\n')
    monkeypatch.setenv("SCREENER_CONFIG", str(path))
    monkeypatch.setenv("SCREENER_ARI__URL", "http://pbx:8088")
    monkeypatch.setenv("SCREENER_POLICY__ACTIONS__WITHHELD", "block")
    monkeypatch.setenv("SCREENER_AGI", '{"enabled": true}')
    # The Docker Compose .env variables (.env.example), read by compose itself.
    monkeypatch.setenv("SCREENER_SECRET_KEY", "x" * 32)
    monkeypatch.setenv("SCREENER_SITE", "york")
    monkeypatch.setenv("SCREENER_SECURE_COOKIES", "false")
    monkeypatch.setenv("NOT_SCREENER_ARI_URL", "ignored")
    settings = load_settings()
    assert settings.office.site == "leeds"
    assert settings.ari.url == "http://pbx:8088"
    assert settings.policy.actions == {"withheld": Action.BLOCK}
    assert settings.agi.enabled is True


def test_compose_variables_are_the_ones_in_the_example_env_file() -> None:
    example = Path(__file__).resolve().parents[1] / ".env.example"
    names = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line.startswith("SCREENER_")
    }
    assert names == set(OTHER_SCREENER_VARIABLES) - {"SCREENER_CONFIG"}
