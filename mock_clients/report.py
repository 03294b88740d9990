"""What the simulation did, what the service says about it, and whether the two agree.

The clients' own tally comes from the answers they were given. The service's side is read back
over the API afterwards: each operator's credited trips with their receipts, parking compliance,
and the admin's ledger totals. Credited points, the sum over the receipts' trips and the
ledger's issuance must be one number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import Any

import h3

from mock_clients.http import Api
from mock_clients.operators import Operator, Sent

TOP_CELL_RESOLUTION = 8
TOP_CELLS = 5


@dataclasses.dataclass
class Summary:
    days: list[str]  # the simulated local dates, ISO
    trips_sent: int
    expected: Counter[str]  # what the simulation meant each item to become
    statuses: Counter[str]
    rejected_by_reason: Counter[str]
    failures_by_error: Counter[str]
    credited_points: int
    co2_g_by_mode: Counter[str]
    expectations_met: int
    surprises: list[str]  # answers that differ from what the simulation expected
    receipts_points: int
    receipts_trips: int
    ledger: dict[str, Any]
    parking: dict[str, dict[str, int]]  # operator key -> category -> trip ends
    top_cells: list[tuple[str, int]]
    late_consent_credits: int
    replays: int
    rider_actions: Counter[str]

    @property
    def reconciled(self) -> bool:
        riders = sum(self.ledger["riders"].values())
        books = (self.ledger["redeemed"] + self.ledger["donated"] + self.ledger["penalties"]
                 + riders)  # fmt: skip
        return (
            self.credited_points == self.receipts_points == self.ledger["issued"] == books
            and self.statuses["credited"] == self.receipts_trips
        )

    def as_json(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields = {k: dict(v) if isinstance(v, Counter) else v for k, v in fields.items()}
        fields["top_cells"] = [list(cell) for cell in self.top_cells]
        fields["reconciled"] = self.reconciled
        return fields


def summarise(
    days: list[dt.date],
    operators: list[Operator],
    admin: Api,
    late_consent_credits: int,
    rider_actions: Counter[str],
) -> Summary:
    sent = [item for operator in operators for item in operator.sent]
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    co2: Counter[str] = Counter()
    points = 0
    met = 0
    surprises: list[str] = []
    for item in sent:
        answer = item.answer or {}
        status = answer.get("status", "failure")
        statuses[status] += 1
        if status == "failure" or "error" in answer:
            errors[answer.get("error", "no answer")] += 1
        elif status == "rejected":
            reasons.update(answer["reasons"])
        elif status == "credited":
            points += answer["points"]
            co2[item.mode] += answer["co2_g"]
        if _as_expected(item):
            met += 1
        elif len(surprises) < 20:
            surprises.append(f"{item.trip_id}: expected {item.expect}, answered {answer}")
    receipts_points, receipts_trips, cells = _receipts(operators)
    return Summary(
        days=[day.isoformat() for day in days],
        trips_sent=len(sent),
        expected=Counter(item.expect for item in sent),
        statuses=statuses,
        rejected_by_reason=reasons,
        failures_by_error=errors,
        credited_points=points,
        co2_g_by_mode=co2,
        expectations_met=met,
        surprises=surprises,
        receipts_points=receipts_points,
        receipts_trips=receipts_trips,
        ledger=admin.get("/v1/admin/ledger/totals"),
        parking={op.profile.key: _parking(op) for op in operators if _judged(op)},
        top_cells=cells.most_common(TOP_CELLS),
        late_consent_credits=late_consent_credits,
        replays=sum(op.replays for op in operators),
        rider_actions=rider_actions,
    )


def _as_expected(item: Sent) -> bool:
    answer = item.answer or {}
    if item.expect == "duplicate":
        return answer.get("status") == "duplicate"
    if "error" in answer:
        return answer["error"] == item.expect
    if item.expect == "credited":
        return answer.get("status") == "credited" and not answer.get("reasons")
    if item.expect == "no_parking_zone":
        return answer.get("status") == "credited" and answer.get("points") == 0
    return answer.get("status") == "rejected" and item.expect in answer.get("reasons", ())


def _receipts(operators: list[Operator]) -> tuple[int, int, Counter[str]]:
    """Points and trips over every operator's credited trips (each with its receipt), and
    trip starts per coarse H3 cell."""
    points = trips = 0
    cells: Counter[str] = Counter()
    for operator in operators:
        credited = operator.api.pages("/v1/trips", "trips", {"status": "credited", "limit": 500})
        for trip in credited:
            if trip["receipt"] is None:
                raise RuntimeError(f"credited trip {trip['trip_id']} has no receipt")
            points += trip["points"]
            trips += 1
            if trip["start_cell"]:
                cells[h3.cell_to_parent(trip["start_cell"], TOP_CELL_RESOLUTION)] += 1
    return points, trips, cells


def _judged(operator: Operator) -> bool:
    return bool({"bike", "ebike"} & set(operator.profile.modes))


def _parking(operator: Operator) -> dict[str, int]:
    categories: Counter[str] = Counter()
    for zone in operator.api.get("/v1/parking/compliance")["zones"]:
        categories.update(zone["by_category"])
    return dict(categories)


def render(summary: Summary) -> str:
    """The summary as the demo prints it."""
    lines = [
        f"trips sent {summary.trips_sent}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items())),
        "rejected by reason: "
        + (", ".join(f"{k} {v}" for k, v in summary.rejected_by_reason.most_common()) or "none"),
        "unreadable items: "
        + (", ".join(f"{k} {v}" for k, v in summary.failures_by_error.most_common()) or "none"),
        f"answers as the simulation expected: {summary.expectations_met} of {summary.trips_sent}",
        "CO2 reduced (g) by mode: "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary.co2_g_by_mode.items())),
        f"late consents credited {summary.late_consent_credits} earlier trips; "
        f"{summary.replays} batches replayed by Idempotency-Key",
    ]
    for key, categories in sorted(summary.parking.items()):
        total = sum(categories.values())
        valid = total - categories.get("invalid", 0)
        share = f"{100 * valid / total:.1f}%" if total else "n/a"
        detail = ", ".join(f"{k} {v}" for k, v in sorted(categories.items()))
        lines.append(f"parking compliance {key}: {share} valid ({detail})")
    lines.append(
        f"top start cells (H3 res {TOP_CELL_RESOLUTION}): "
        + ", ".join(f"{cell} {n}" for cell, n in summary.top_cells)
    )
    lines.append(
        "riders: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.rider_actions.items()))
    )
    ledger = summary.ledger
    lines += [
        f"credited points (answers) {summary.credited_points} = receipts "
        f"{summary.receipts_points} ({summary.receipts_trips} trips) = ledger issuance "
        f"{ledger['issued']}: {'yes' if summary.reconciled else 'NO'}",
        f"ledger: redeemed {ledger['redeemed']}, donated {ledger['donated']}, penalties "
        f"{ledger['penalties']}, riders hold " + ", ".join(
            f"{k} {v}" for k, v in sorted(ledger["riders"].items())
        ),
    ]  # fmt: skip
    lines += [f"unexpected: {s}" for s in summary.surprises]
    return "\n".join(lines)
