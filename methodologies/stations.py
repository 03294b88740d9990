"""Metro distance from a station table.

A metro operator may report a trip as an entry and an exit station rather than metres. The
passenger-km of such a trip is the shortest distance along the network between the two
stations, with transfers between lines at an interchange costing 0 m (the rider walks, the
train does not carry them).

Station table format
--------------------
A CSV file with a header line and these columns, one row per station per line::

    line_id,seq,station_id,name,lat,lng,km_to_next

``line_id``
    The line the row belongs to (any non-empty text, e.g. ``1``).
``seq``
    Position of the station along the line: whole numbers 1, 2, 3, ... without gaps or
    repeats within a line. Rows may appear in any order in the file.
``station_id``
    One id per physical station. A station served by several lines (an interchange) appears
    once per line with the same ``station_id``, the same ``name`` and the same coordinates
    (within 300 m, to allow for platforms of different lines).
``name``
    The station's display name; trips may name a station by it, exactly as written.
``lat``, ``lng``
    WGS84 decimal degrees.
``km_to_next``
    Along-track distance in kilometres from this station to the next one on the line
    (``seq + 1``), a positive decimal number. Empty on the last station of the line, and only
    there. A loop line repeats its first station as its last row; a branched line is given as
    one ``line_id`` per branch.

Distances are read with :class:`decimal.Decimal` and summed exactly, never through float, so
that the same table always gives the same metres.

Rounding rule
-------------
The distance of a trip is the exact sum of ``km_to_next`` along the shortest path, converted
to whole metres rounded DOWN (1.2345 km gives 1234 m): a rider is never credited a metre the
table does not show they travelled.

Errors in the table raise :class:`StationTableError` naming the file, the line of the file
(the header is line 1) and the column, so that an operator's table can be fixed at its source.
"""

from __future__ import annotations

import csv
import decimal
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import networkx as nx

COLUMNS: tuple[str, ...] = ("line_id", "seq", "station_id", "name", "lat", "lng", "km_to_next")
"""The columns a station table must have, in the order the files are written."""

INTERCHANGE_TOLERANCE_M = 300.0
"""How far apart the coordinates of one interchange station may be on different lines."""

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), for great-circle distances between station coordinates."""

_REQUIRED_VALUES = ("line_id", "seq", "station_id", "name", "lat", "lng")
_SEQ = re.compile(r"[0-9]+")
# Enough digits that summing any realistic table is exact, whatever the caller's context is.
_SUM_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)


class StationTableError(ValueError):
    """A station table cannot be used; the message says where, so the operator can fix it."""

    def __init__(self, source: str, line: int, column: str | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.reason = reason
        where = f"{source}: line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {reason}")


class UnknownStation(KeyError):
    """A trip names a station the table does not have (or a name shared by several stations)."""

    def __init__(self, station: str, reason: str = "no station has this id or name") -> None:
        self.station = station
        self.reason = reason
        super().__init__(station)

    def __str__(self) -> str:
        # KeyError's own str() would show only the repr of its argument.
        return f"unknown station {self.station!r}: {self.reason}"


class NoRoute(LookupError):
    """Both stations exist but the table does not connect them, so there is no distance."""

    def __init__(self, entry: str, exit: str) -> None:
        self.entry = entry
        self.exit = exit
        super().__init__(f"no route between stations {entry!r} and {exit!r} in the table")


@dataclass(frozen=True)
class Station:
    """One physical station, shared by every line that serves it."""

    station_id: str
    name: str
    lat: float
    lng: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class StationPath:
    """The shortest route between two stations, with what a receipt needs to explain it.

    ``distance_m`` is rounded down; ``stations`` are station ids in travel order, entry and exit
    included; ``lines`` are the lines ridden in order, a line listed again only after a transfer
    away from it.
    """

    entry: str
    exit: str
    distance_m: int
    stations: tuple[str, ...]
    lines: tuple[str, ...]


def great_circle_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine distance in km, used to check interchange coordinates (never for credit)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class _Row:
    line_no: int
    line_id: str
    seq: int
    station_id: str
    name: str
    lat: float
    lng: float
    km_to_next: decimal.Decimal | None


def _parse_decimal(raw: str, source: str, line_no: int, column: str, what: str) -> decimal.Decimal:
    try:
        value = decimal.Decimal(raw)
    except decimal.InvalidOperation:
        raise StationTableError(
            source, line_no, column, f"{what} {raw!r} is not a number"
        ) from None
    if not value.is_finite():
        raise StationTableError(source, line_no, column, f"{what} {raw!r} is not a finite number")
    return value


def _parse_row(raw: Mapping[str, str | None], line_no: int, source: str) -> _Row:
    # csv.DictReader files the fields beyond the header under the key None.
    if any(key is None and value for key, value in raw.items()):
        raise StationTableError(
            source,
            line_no,
            f"#{len(COLUMNS) + 1}",
            f"row has more fields than the header's {len(COLUMNS)} columns",
        )
    values: dict[str, str] = {}
    for column in COLUMNS:
        if column not in raw:
            raise StationTableError(source, line_no, column, "missing column")
        value = raw[column]
        if value is None:
            raise StationTableError(
                source, line_no, column, "missing field (the row is shorter than the header)"
            )
        values[column] = value.strip()
    for column in _REQUIRED_VALUES:
        if not values[column]:
            raise StationTableError(source, line_no, column, "empty value")

    if not _SEQ.fullmatch(values["seq"]) or int(values["seq"]) < 1:
        raise StationTableError(
            source, line_no, "seq", f"seq {values['seq']!r} is not a whole number from 1"
        )
    lat = _parse_decimal(values["lat"], source, line_no, "lat", "latitude")
    if not -90 <= lat <= 90:
        raise StationTableError(source, line_no, "lat", f"latitude {lat} is outside -90..90")
    lng = _parse_decimal(values["lng"], source, line_no, "lng", "longitude")
    if not -180 <= lng <= 180:
        raise StationTableError(source, line_no, "lng", f"longitude {lng} is outside -180..180")
    km: decimal.Decimal | None = None
    if values["km_to_next"]:
        km = _parse_decimal(values["km_to_next"], source, line_no, "km_to_next", "distance")
        if km <= 0:
            raise StationTableError(
                source, line_no, "km_to_next", f"distance {values['km_to_next']!r} is not positive"
            )
    return _Row(
        line_no=line_no,
        line_id=values["line_id"],
        seq=int(values["seq"]),
        station_id=values["station_id"],
        name=values["name"],
        lat=float(lat),
        lng=float(lng),
        km_to_next=km,
    )


class StationNetwork:
    """A metro network read from a station table, answering distances between two stations."""

    def __init__(
        self, graph: nx.Graph, stations: Mapping[str, Station], source: str = "<rows>"
    ) -> None:
        """Prefer :meth:`from_csv` or :meth:`from_rows`, which check the table first."""
        self._graph = graph
        self._stations = MappingProxyType(dict(stations))
        self.source = source
        by_name: dict[str, list[str]] = {}
        for station in self._stations.values():
            by_name.setdefault(station.name, []).append(station.station_id)
        self._by_name = {name: tuple(sorted(ids)) for name, ids in by_name.items()}

    @classmethod
    def from_csv(cls, path: Path) -> StationNetwork:
        """Read a station table file; errors name the file, its line number and the column."""
        source = str(path)
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if header is None:
                raise StationTableError(source, 1, None, "empty file, expected a header line")
            for column in COLUMNS:
                if column not in header:
                    raise StationTableError(source, 1, column, "missing column in the header")

            def numbered() -> Iterator[tuple[int, Mapping[str, str | None]]]:
                for row in reader:
                    yield reader.line_num, row

            return cls._build(numbered(), source)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, str]], source: str = "<rows>") -> StationNetwork:
        """Build from rows already read (e.g. from a database or a test).

        Rows are numbered as they would be in a file with a header line, so the first row is
        line 2 and errors point at the same place as for :meth:`from_csv`.
        """
        return cls._build(enumerate(rows, start=2), source)

    @classmethod
    def _build(
        cls, numbered_rows: Iterable[tuple[int, Mapping[str, str | None]]], source: str
    ) -> StationNetwork:
        by_line: dict[str, dict[int, _Row]] = {}
        first_seen: dict[str, _Row] = {}
        for line_no, raw in numbered_rows:
            row = _parse_row(raw, line_no, source)
            seqs = by_line.setdefault(row.line_id, {})
            if row.seq in seqs:
                raise StationTableError(
                    source,
                    line_no,
                    "seq",
                    f"line {row.line_id!r} already has seq {row.seq} "
                    f"(line {seqs[row.seq].line_no})",
                )
            seqs[row.seq] = row
            _check_same_station(first_seen.setdefault(row.station_id, row), row, source)
        if not by_line:
            raise StationTableError(source, 1, None, "the table has no stations")

        graph = nx.Graph()
        serving: dict[str, list[str]] = {}
        for line_id, seqs in by_line.items():
            ordered = [seqs[seq] for seq in sorted(seqs)]
            _check_sequence(line_id, ordered, source)
            for row in ordered:
                graph.add_node(row.station_id)
                if line_id not in serving.setdefault(row.station_id, []):
                    serving[row.station_id].append(line_id)
            for here, there in itertools.pairwise(ordered):
                _add_segment(graph, here, there, line_id, source)

        stations = {
            station_id: Station(
                station_id=station_id,
                name=row.name,
                lat=row.lat,
                lng=row.lng,
                lines=tuple(serving[station_id]),
            )
            for station_id, row in first_seen.items()
        }
        return cls(graph, stations, source)

    @property
    def stations(self) -> Mapping[str, Station]:
        """Every station by id (read-only), for listing and for showing names on receipts."""
        return self._stations

    def resolve(self, station: str) -> str:
        """The station id for an id or an exact name; an id wins over another station's name."""
        if station in self._stations:
            return station
        ids = self._by_name.get(station)
        if ids is None:
            raise UnknownStation(station)
        if len(ids) > 1:
            raise UnknownStation(
                station, f"several stations have this name ({', '.join(ids)}); give the id"
            )
        return ids[0]

    def path(self, entry_station: str, exit_station: str) -> StationPath:
        """Shortest route by track distance, metres rounded down so no metre is over-credited."""
        entry = self.resolve(entry_station)
        exit_ = self.resolve(exit_station)
        with decimal.localcontext(_SUM_CONTEXT):
            try:
                _, nodes = nx.single_source_dijkstra(self._graph, entry, exit_, weight="km")
            except nx.NetworkXNoPath:
                raise NoRoute(entry, exit_) from None
            edges = [self._graph.edges[a, b] for a, b in itertools.pairwise(nodes)]
            total_km = sum((edge["km"] for edge in edges), decimal.Decimal(0))
            metres = (total_km * 1000).to_integral_value(rounding=decimal.ROUND_FLOOR)
        return StationPath(
            entry=entry,
            exit=exit_,
            distance_m=int(metres),
            stations=tuple(nodes),
            lines=_fewest_transfers([edge["lines"] for edge in edges]),
        )


def _check_same_station(first: _Row, row: _Row, source: str) -> None:
    """One station id is one physical station: same name, coordinates within the tolerance."""
    if row is first:
        return
    if row.name != first.name:
        raise StationTableError(
            source,
            row.line_no,
            "name",
            f"station {row.station_id!r} is named {row.name!r} here but {first.name!r} "
            f"on line {first.line_no}",
        )
    apart_m = great_circle_km(first.lat, first.lng, row.lat, row.lng) * 1000
    if apart_m > INTERCHANGE_TOLERANCE_M:
        raise StationTableError(
            source,
            row.line_no,
            "lat/lng",
            f"station {row.station_id!r} is {apart_m:.0f} m from its position on line "
            f"{first.line_no} (at most {INTERCHANGE_TOLERANCE_M:.0f} m allowed)",
        )


def _check_sequence(line_id: str, ordered: list[_Row], source: str) -> None:
    """Seq runs 1..n without gaps; km_to_next is set on every station but the last."""
    for expected, row in enumerate(ordered, start=1):
        if row.seq != expected:
            raise StationTableError(
                source,
                row.line_no,
                "seq",
                f"line {line_id!r} has no seq {expected} before seq {row.seq}",
            )
    for row in ordered[:-1]:
        if row.km_to_next is None:
            raise StationTableError(
                source,
                row.line_no,
                "km_to_next",
                f"missing distance to seq {row.seq + 1} of line {line_id!r}",
            )
    last = ordered[-1]
    if last.km_to_next is not None:
        raise StationTableError(
            source,
            last.line_no,
            "km_to_next",
            f"seq {last.seq} is the last station of line {line_id!r}; km_to_next must be empty",
        )


def _add_segment(graph: nx.Graph, here: _Row, there: _Row, line_id: str, source: str) -> None:
    """Keep the shortest segment between two stations, and every line that runs it."""
    if here.station_id == there.station_id:
        raise StationTableError(
            source,
            there.line_no,
            "station_id",
            f"station {there.station_id!r} follows itself on line {line_id!r}",
        )
    km = here.km_to_next
    assert km is not None
    if graph.has_edge(here.station_id, there.station_id):
        edge = graph.edges[here.station_id, there.station_id]
        if km > edge["km"]:
            return
        if km == edge["km"]:
            if line_id not in edge["lines"]:
                edge["lines"] = (*edge["lines"], line_id)
            return
    graph.add_edge(here.station_id, there.station_id, km=km, lines=(line_id,))


def _fewest_transfers(edge_lines: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Name the lines of a route, riding each as far as it goes (fewest changes of line).

    Greedily taking, at each change, the line that serves the most following segments gives
    the fewest changes for the given stations; ties go to the smallest line id.
    """
    chosen: list[str] = []
    i = 0
    while i < len(edge_lines):
        best_line, best_end = "", i
        for line in sorted(edge_lines[i]):
            end = i
            while end < len(edge_lines) and line in edge_lines[end]:
                end += 1
            if end > best_end:
                best_line, best_end = line, end
        chosen.append(best_line)
        i = best_end
    return tuple(chosen)
