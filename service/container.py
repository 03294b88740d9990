"""The process's long-lived collaborators, built once from settings by the app factory."""

from __future__ import annotations

import dataclasses
import datetime as dt

from methodologies.context import MethodologyContext, load_context
from service.auth import keys
from service.auth.tokens import TokenService, load_jwks
from service.geofence.catalog import ZoneCatalog
from service.ingest.batch import Ingestor
from service.ingest.coalesce import Coalescer
from service.ingest.gate import WriteGate
from service.ingest.plausibility import PlausibilityRules
from service.kv.ratelimit import RateLimiter
from service.kv.store import KeyValueStore, create_store
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.planner.journal import Folding
from service.settings import Settings, SettingsError
from service.usecases.crediting import TripEndJudge
from service.usecases.mall import Fulfiller, issue_locally
from service.usecases.parking import ParkingRules, trip_end_judge

MIN_SIGNING_KEY_BYTES = 32  # RFC 7518 section 3.2: an HS256 key as long as the hash


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    store: KeyValueStore
    tokens: TokenService
    limiter: RateLimiter
    policy: LedgerPolicy
    methodologies: MethodologyContext
    zones: ZoneCatalog
    parking_rules: ParkingRules
    folding: Folding
    fulfil: Fulfiller = issue_locally
    # Trip requests go through this, so that small ones arriving together share a batch.
    intake: Coalescer = dataclasses.field(init=False)
    # Big batches a process writes at once (``service.ingest.gate``).
    batch_writes: WriteGate = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.batch_writes = WriteGate(self.settings.ingest_batch_writers)
        self.intake = Coalescer(
            lambda operator, items, now: self.ingestor().ingest_indexed(operator, items, now)
        )

    def ingestor(self) -> Ingestor:
        settings = self.settings
        rules = PlausibilityRules(max_age_days=settings.trip_max_age_days)
        return Ingestor(self.db, self.policy, self.methodologies, self.zones, self.parking_rules,
                        rules, settings.trip_cell_resolution, self.folding,
                        self.batch_writes,
                        dt.timedelta(days=settings.consent_grace_days))  # fmt: skip

    def trip_end_judge(self) -> TripEndJudge:
        return trip_end_judge(self.zones, self.policy, self.parking_rules)


def build_token_service(settings: Settings) -> TokenService:
    """Configured keys when given; generated development keys under ``var/`` otherwise."""
    secret = settings.token_signing_key or keys.development_token_secret(settings.var_dir)
    if len(secret.encode()) < MIN_SIGNING_KEY_BYTES:
        raise SettingsError(f"TOKEN_SIGNING_KEY must be at least {MIN_SIGNING_KEY_BYTES} bytes")
    signing_key_file = settings.rider_jwt_signing_key_file
    if settings.rider_jwt_jwks_file is not None:
        jwks = load_jwks(settings.rider_jwt_jwks_file)
    else:
        signing_key_file = signing_key_file or keys.development_rider_key_file(settings.var_dir)
        jwks = keys.public_jwks(keys.load_private_key(signing_key_file))
    return TokenService(
        access_secret=secret,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl_s=settings.token_ttl_s,
        rider_issuer=settings.rider_jwt_issuer,
        rider_audience=settings.rider_jwt_audience,
        rider_jwks=jwks,
        rider_signing_key_file=signing_key_file,
    )


def load_methodologies(settings: Settings) -> MethodologyContext:
    """The methodologies, city profile and station table the settings name."""
    return load_context(
        settings.city,
        methodologies_dir=settings.methodologies_dir,
        cities_file=settings.cities_file,
        station_table=settings.station_table,
    )


def build_services(settings: Settings) -> Services:
    """Everything a request needs; creates engines and clients but opens no connection."""
    store = create_store(
        settings.redis_url,
        prefix=settings.redis_prefix,
        timeout_s=settings.redis_timeout_s,
        retries=settings.redis_retries,
        cooldown_s=settings.redis_cooldown_s,
    )
    methodologies = load_methodologies(settings)
    db = Database.from_url(
        settings.database_url, connect_timeout_s=settings.database_connect_timeout_s
    )
    return Services(
        settings=settings,
        db=db,
        store=store,
        tokens=build_token_service(settings),
        limiter=RateLimiter(store),
        policy=ledger_policy(settings, methodologies.city.timezone),
        methodologies=methodologies,
        zones=ZoneCatalog(db),
        parking_rules=ParkingRules(
            free_offences=settings.parking_free_offences,
            window_days=settings.parking_offence_window_days,
            penalty_points=settings.parking_penalty_points,
        ),
        folding=Folding(db),
    )


def ledger_policy(settings: Settings, timezone: str) -> LedgerPolicy:
    return LedgerPolicy(
        points_per_kg_co2=settings.points_per_kg_co2,
        fraud_window=dt.timedelta(hours=settings.fraud_window_hours),
        daily_cap_points=settings.daily_cap_points,
        timezone=timezone,
    )
