"""The zones in force, indexed in memory, refreshed when any process changes them.

Every process keeps its own ``ParkingJudge``. At most once per ``refresh_s`` a request asks
the database for the catalogue version (one indexed single-row read); if another process has
published or withdrawn a zone, the index is rebuilt from the database before answering. A zone
change therefore reaches every worker within ``refresh_s`` (1 s by default) without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from geo.index import ZoneIndex
from geo.parking import ParkingJudge
from service.geofence import store
from service.persistence.database import Database

log = logging.getLogger(__name__)


class ZoneCatalog:
    def __init__(
        self,
        db: Database,
        *,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._version: int | None = None
        self._judge: ParkingJudge | None = None
        self._checked_at = float("-inf")

    def judge(self) -> ParkingJudge:
        """The judge for the zones in force (rebuilt if the catalogue moved on)."""
        now = self._clock()
        if self._judge is not None and now - self._checked_at < self._refresh_s:
            return self._judge
        with self._lock:
            if self._judge is not None and now - self._checked_at < self._refresh_s:
                return self._judge
            version = store.catalogue_version(self._db)
            if version != self._version or self._judge is None:
                started = time.monotonic()
                version, zones, global_rules = store.in_force(self._db)
                self._judge = ParkingJudge(ZoneIndex(zones), global_rules)
                self._version = version
                log.info(
                    "zone index built: catalogue version %s, %d zones, %.1f s",
                    version, len(zones), time.monotonic() - started,
                )  # fmt: skip
            self._checked_at = now
            return self._judge

    def invalidate(self) -> None:
        """Look at the database on the next request (this process just changed the zones)."""
        self._checked_at = float("-inf")

    @property
    def version(self) -> int | None:
        return self._version
