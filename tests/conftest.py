"""Shared fixtures: no network but loopback, no installed plugins, scripted models."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest

os.environ["TOOLDECK_NO_ENTRY_POINTS"] = "1"
for _key in [
    k for k in os.environ if k.startswith("TOOLDECK_") and k != "TOOLDECK_NO_ENTRY_POINTS"
]:
    del os.environ[_key]

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"tests may not open network connections (tried {host})")
    return _real_connect(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path: Path) -> Any:
    """The default configuration with data_dir in a temporary folder."""
    from tooldeck.config import load_config

    return load_config(
        REPO / "config.yaml", {"data_dir": str(tmp_path / "data")}, environ={}, read_dotenv=False
    )


@pytest.fixture
def registry(config: Any) -> Any:
    """The built-in registry plus test tools (echo, boom, sleepy, search)."""
    from tests.helpers import make_registry

    return make_registry(config)
