"""The dependencies core functions work with: settings, storage, both API clients, the job queue, clock and ids.

Built once per process by the trigger layer; each part is made on first use, so a missing
setting surfaces as `ConfigError` naming it when (and only when) a call needs that part.
"""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.settings import Settings

if TYPE_CHECKING:
    from core.crm import CrmClient
    from core.erp import ErpClient
    from core.queue import JobQueue
    from core.store import Storage

__all__ = ["Deps", "utc_now", "new_guid"]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_guid() -> str:
    return str(uuid.uuid4())


@dataclass
class Deps:
    settings: Settings
    clock: Callable[[], dt.datetime] = utc_now
    new_id: Callable[[], str] = new_guid
    _made: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_env(cls) -> Deps:
        return cls(Settings.from_env())

    def _once(self, name: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._made:
                self._made[name] = make()
            return self._made[name]

    def storage(self) -> Storage:
        from core.store import Storage
        from core.rules.defaults import default_mappings

        def make() -> Storage:
            storage = Storage.from_connection_string(self.settings.storage().reveal())
            storage.mappings.ensure_defaults(default_mappings())
            return storage

        result: Storage = self._once("storage", make)
        return result

    def erp(self) -> ErpClient:
        from core.erp import ErpClient

        config = self.settings.erp()  # raises ConfigError before anything is cached
        result: ErpClient = self._once("erp", lambda: ErpClient(config))
        return result

    def crm(self) -> CrmClient:
        from core.crm import CrmClient

        config = self.settings.crm()
        result: CrmClient = self._once("crm", lambda: CrmClient(config))
        return result

    def queue(self) -> JobQueue:
        """The job queue: Service Bus when configured (`Settings.service_bus()`), else the durable local queue
        on KOPPEL_STORAGE.

        Raises:
            ConfigError: KOPPEL_QUEUE_NAME is unset: a guessed name would send to a queue no worker listens on;
                or the app runs in Azure without Service Bus.
        """
        from core.errors import ConfigError
        from core.queue import queue_for

        name = self.settings.get("KOPPEL_QUEUE_NAME")
        if not name:
            raise ConfigError("KOPPEL_QUEUE_NAME")
        service_bus = self.settings.service_bus()
        storage = None if service_bus else self.settings.storage().reveal()
        result: JobQueue = self._once("queue", lambda: queue_for(service_bus, name, storage))
        return result
