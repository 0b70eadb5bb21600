"""screener.example.toml describes every setting, with its default."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from screener.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "screener.example.toml"

_HEADER = re.compile(r"\[(?P<name>[\w.]+)\]")
_COMMENTED_KEY = re.compile(r"#\s*(?P<key>[a-z_]+)\s*=\s*(?P<value>.+)")
_COMMENTED_HEADER = re.compile(r"#\s*\[(?P<name>[\w.]+)\]\s*")


def sections() -> dict[str, type[BaseModel]]:
    found = {}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel), name
        found[name] = model
    return found


def example_values() -> dict[str, Any]:
    with EXAMPLE.open("rb") as handle:
        return tomllib.load(handle)


def commented_keys() -> dict[str, dict[str, str]]:
    """Keys shown in comments (``# key = value`` or ``# [section.key]``), by section.

    The section is the last real ``[header]`` above the comment, as it would be once the
    line is uncommented.
    """
    keys: dict[str, dict[str, str]] = {}
    section = ""
    for raw in EXAMPLE.read_text().splitlines():
        line = raw.strip()
        header = _HEADER.fullmatch(line)
        if header:
            section = header["name"]
            continue
        table = _COMMENTED_HEADER.fullmatch(line)
        if table and table["name"].startswith(f"{section}."):
            keys.setdefault(section, {})[table["name"].removeprefix(f"{section}.")] = "{}"
            continue
        match = _COMMENTED_KEY.fullmatch(line)
        if match:
            keys.setdefault(section, {})[match["key"]] = match["value"]
    return keys


def default_of(section: str, key: str) -> Any:
    value = getattr(sections()[section](), key)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return value.model_dump()
    return value


ALL_FIELDS = [(section, key) for section, model in sections().items() for key in model.model_fields]


def test_every_section_is_a_table_in_the_example() -> None:
    values = example_values()
    missing = [name for name in sections() if not isinstance(values.get(name), dict)]
    assert missing == [], f"screener.example.toml has no [{'], ['.join(missing)}]"


@pytest.mark.parametrize(("section", "key"), ALL_FIELDS, ids=[f"{s}.{k}" for s, k in ALL_FIELDS])
def test_every_setting_appears_in_the_example(section: str, key: str) -> None:
    in_file = key in example_values().get(section, {})
    in_comment = key in commented_keys().get(section, {})
    assert in_file or in_comment, (
        f"{section}.{key} is missing from screener.example.toml: add it under [{section}] "
        f"with a comment and its default ({default_of(section, key)!r})"
    )


SET_IN_EXAMPLE = [
    pytest.param(section, key, id=f"{section}.{key}")
    for section, table in example_values().items()
    if section in sections()
    for key in table
]


@pytest.mark.parametrize(("section", "key"), SET_IN_EXAMPLE)
def test_values_set_in_the_example_are_the_defaults(section: str, key: str) -> None:
    assert key in sections()[section].model_fields, f"{section}.{key} is not a setting"
    assert example_values()[section][key] == default_of(section, key)


def test_values_shown_in_comments_are_valid_toml() -> None:
    shown = [(s, k, v) for s, keys in commented_keys().items() for k, v in keys.items()]
    assert shown, "the example shows no commented settings"
    for section, key, value in shown:
        try:
            tomllib.loads(f"{key} = {value}")
        except tomllib.TOMLDecodeError as exc:
            pytest.fail(f"[{section}] # {key} = {value}: not valid once uncommented ({exc})")
