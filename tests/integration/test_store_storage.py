"""Storage: opening the tables, isolation by prefix, ping, and storage failures as Koppel errors."""
from __future__ import annotations

import socket
import time
import uuid

import pytest

from core.errors import ConfigError, Retriable
from core.model import Coupling
from core.store import Storage

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestStorage:
    def test_reopening_keeps_data_and_prefixes_isolate(self, azurite: str) -> None:
        prefix = "t" + uuid.uuid4().hex[:12]
        Storage.from_connection_string(azurite, prefix=prefix).couplings.couple(Coupling("M", "E1", "C1"))
        again = Storage.from_connection_string(azurite, prefix=prefix)
        other = Storage.from_connection_string(azurite, prefix="t" + uuid.uuid4().hex[:12])
        assert again.couplings.count("M") == 1 and other.couplings.count("M") == 0
        again.ping()

    @pytest.mark.parametrize("prefix", ["1abc", "a-b", "x" * 51], ids=["digit-first", "dash", "too-long"])
    def test_an_unusable_prefix_is_a_config_error(self, azurite: str, prefix: str) -> None:
        with pytest.raises(ConfigError):
            Storage.from_connection_string(azurite, prefix=prefix)

    def test_an_unusable_connection_string_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError) as caught:
            Storage.from_connection_string("not a connection string")
        assert caught.value.setting == "KOPPEL_STORAGE"

    def test_unreachable_storage_is_retriable_and_fails_fast(self) -> None:
        conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
                f"TableEndpoint=http://127.0.0.1:{_closed_port()}/devstoreaccount1;")
        started = time.monotonic()
        with pytest.raises(Retriable) as caught:
            Storage.from_connection_string(conn, retry_total=0)
        assert caught.value.service == "storage"
        assert time.monotonic() - started < 10
