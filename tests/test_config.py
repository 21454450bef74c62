"""Configuration: TOML file, environment overrides, and errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from september.config import load_config
from september.errors import ConfigError


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "september.toml"
    path.write_text(
        '[database]\nurl = "postgresql://u@db/september"\n'
        '[paths]\nshare = "/mnt/share"\n'
        "[ingest]\nworkers = 3\n"
    )
    config = load_config(path, environ={"SEPTEMBER_WORKERS": "5", "SEPTEMBER_INDEX_DIR": "/idx"})
    assert config.database.url == "postgresql://u@db/september"
    assert config.paths.share == Path("/mnt/share")
    assert config.paths.index_dir == Path("/idx")
    assert config.ingest.workers == 5  # the environment wins over the file
    assert config.source == path


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[ingest]\nworkerz = 2\n", "unknown key.*workerz.*section \\[ingest\\]"),
        ("[ingets]\nworkers = 2\n", "unknown section.*ingets"),
        ("[ingest]\nworkers = 'many'\n", "workers = 'many' is not a valid int"),
        ("[ingest\n", "not valid TOML"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "september.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})


def test_every_key_is_documented() -> None:
    import dataclasses

    from september.config import Config

    text = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    for section in dataclasses.fields(Config):
        if section.name == "source":
            continue
        assert f"[{section.name}]" in text, section.name
        for key in dataclasses.fields(section.default_factory()):
            assert f"\n{key.name} = " in text, f"[{section.name}] {key.name}"
