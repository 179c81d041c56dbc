"""Shared fixtures: the stagecraft binary under test and free loopback ports."""

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stagecraft_bin() -> str:
    path = os.environ.get("STAGECRAFT_BIN")
    if not path:
        pytest.skip("STAGECRAFT_BIN is not set: run the suite through scripts/test.sh")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def empty_config(tmp_path: Path) -> dict:
    """An environment whose config is an empty file, so a developer's own config is not read."""
    config = tmp_path / "stagecraft.toml"
    config.write_text("")
    env = dict(os.environ)
    env["STAGECRAFT_CONFIG"] = str(config)
    env["STAGECRAFT_LOG"] = "warn"
    return env
