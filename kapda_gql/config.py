"""Settings read once from the environment (the variables of API.md, "Operating the service")."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

SANDBOX_KEY_ID = "rzp_test_kapdasandbox"
SANDBOX_KEY_SECRET = "sandbox-key-secret-not-for-production"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret-not-for-production"
SANDBOX_HOSTS = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0")  # noqa: S104 (recognised, not bound)
MIN_SECRET_LENGTH = 32
# scheme://host[:port] and nothing else; "*" is accepted in development only.
CORS_ORIGIN_RE = re.compile(
    r"^(\*|https?://[A-Za-z0-9.-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?)$"
)


class ConfigError(Exception):
    """The configuration cannot run the service; the message says which setting is wrong."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "on", "true", "yes"}:
        return True
    if lowered in {"0", "off", "false", "no"}:
        return False
    raise ConfigError(f"expected on/off, got {value!r}")


def _rate(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """A rate limit spelled `count/seconds`, e.g. `10/300` for ten per five minutes."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    count, sep, seconds = raw.strip().partition("/")
    try:
        rate = (int(count), int(seconds))
    except ValueError:
        raise ConfigError(f"{name} must look like 10/300 (count/seconds), got {raw!r}") from None
    if not sep or rate[0] < 1 or rate[1] < 1:
        raise ConfigError(f"{name} must look like 10/300 (count/seconds), got {raw!r}")
    return rate


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _env_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    try:
        return _flag(env.get(name), default)
    except ConfigError as error:
        raise ConfigError(f"{name}: {error}") from None


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


def _non_negative_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value >= 0:
        raise ConfigError(f"{name} must be 0 (off) or more seconds, got {raw!r}")
    return value


PERSISTED_QUERY_MODES = ("apq", "trusted", "off")


def _persisted_queries(env: Mapping[str, str]) -> tuple[str, Path | None]:
    mode = (env.get("KAPDA_PERSISTED_QUERIES") or "apq").strip().lower()
    if mode not in PERSISTED_QUERY_MODES:
        raise ConfigError(f"KAPDA_PERSISTED_QUERIES must be one of apq, trusted, off, got {mode!r}")
    raw = (env.get("KAPDA_TRUSTED_DOCUMENTS") or "").strip()
    manifest = Path(raw) if raw else None
    if mode == "trusted" and manifest is None:
        raise ConfigError("KAPDA_PERSISTED_QUERIES=trusted needs KAPDA_TRUSTED_DOCUMENTS (the manifest file)")
    if manifest is not None and not manifest.is_file():
        raise ConfigError(f"KAPDA_TRUSTED_DOCUMENTS: {manifest} is not a file")
    return mode, manifest


def _int(env: Mapping[str, str], name: str, default: int, minimum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str | None = None
    data_dir: Path = Path(".kapda")
    jwt_secret: str = ""
    token_ttl_seconds: int = 7 * 24 * 3600
    razorpay_key_id: str = SANDBOX_KEY_ID
    razorpay_key_secret: str = SANDBOX_KEY_SECRET
    razorpay_webhook_secret: str = SANDBOX_WEBHOOK_SECRET
    razorpay_base_url: str | None = None
    razorpay_timeout_seconds: float = 10.0
    rate_limits: bool = True
    redis_url: str | None = None
    graphiql: bool = True
    introspection: bool = True
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    # Request headers over this, in all, are 431; a body not in within the timeout is 408.
    max_header_bytes: int = 16 * 1024
    body_timeout_seconds: float = 10.0
    # Automatic persisted queries: apq (register on first use), trusted (the manifest only), off.
    persisted_queries: str = "apq"
    trusted_documents: Path | None = None
    # `kapda-gql purge` drops registered persisted queries unused for this many days.
    persisted_query_days: int = 30
    # max-age of the anonymous, all-public GET answers shared caches may keep.
    http_cache_seconds: int = 10
    # The shared in-process cache of catalog answers (graphql/transport/response_cache.py): how
    # old a kept answer may get (so how late stock moved by sales may show), and its memory bound.
    # Either at 0 turns it off.
    catalog_cache_seconds: float = 2.0
    catalog_cache_bytes: int = 32 * 1024 * 1024
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_cost: int = 20_000
    max_page_size: int = 100
    batching: bool = False
    # How long a quote and its stock hold last (API.md: 900 s); holds off takes stock at checkout only.
    checkout_ttl_seconds: int = 15 * 60
    stock_holds: bool = True
    # How often each process asks Razorpay about open sessions' orders (checkout/reconcile.py).
    reconcile_seconds: float = 120.0
    # Test hook, refused in production: sleep this long after each capture, before the order is
    # written, so a crash drill can kill the process between the two (tests/e2e/checkout).
    test_pause_after_capture_seconds: float = 0.0
    # How long a cart line's remembered price holds; after that the current price applies.
    cart_price_ttl_seconds: int = 7 * 24 * 3600
    # Per worker process. Sized to what the database can run at once, not to how many requests
    # arrive: requests queue first come first served in front of the pool (db/gate.py), and on one
    # hot row every extra transaction in PostgreSQL's lock queue costs throughput (bench/README.md).
    db_pool_size: int = 5
    db_pool_overflow: int = 0
    # How long a request waits on the database before it answers SERVICE_UNAVAILABLE (db/engine.py):
    # to connect, for one statement (lock waits included), for a free pooled connection; and how
    # long a session may sit idle inside a transaction (longer than a Razorpay call inside one).
    db_connect_timeout_seconds: float = 5.0
    db_statement_timeout_seconds: float = 10.0
    db_idle_in_transaction_timeout_seconds: float = 30.0
    db_pool_timeout_seconds: float = 5.0
    sentry_dsn: str | None = None
    log_json: bool = True
    # Rate limits as (requests, window seconds); shared by every worker through PostgreSQL or Redis.
    rate_login_per_account: tuple[int, int] = (10, 300)
    rate_login_per_ip: tuple[int, int] = (50, 300)
    rate_mutations_per_user: tuple[int, int] = (60, 60)
    rate_anonymous_per_ip: tuple[int, int] = (300, 60)
    rate_requests_per_user: tuple[int, int] = (600, 60)
    rate_mutations_per_ip: tuple[int, int] = (20, 60)
    # Peers (addresses or CIDR blocks) whose X-Forwarded-For is believed: the load balancer, nothing else.
    trusted_proxies: tuple[str, ...] = ()
    metrics: bool = True
    # When set, GET /metrics needs `Authorization: Bearer <token>`.
    metrics_token: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def sandbox_gateway(self) -> bool:
        return self.razorpay_base_url is None or any(
            f"//{host}" in self.razorpay_base_url for host in SANDBOX_HOSTS
        )

    @property
    def uses_sandbox_credentials(self) -> bool:
        """Either Razorpay key is the development sandbox's, which the real Razorpay must never see."""
        return self.razorpay_key_id == SANDBOX_KEY_ID or self.razorpay_key_secret == SANDBOX_KEY_SECRET

    @property
    def gateway_is_local(self) -> bool:
        """KAPDA_RAZORPAY_BASE_URL is set and names a loopback host (a sandbox)."""
        url = self.razorpay_base_url
        return url is not None and _gateway_url_problem(url) == _LOCAL_SANDBOX

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = env.get("KAPDA_ENV", "development").strip().lower() or "development"
        if mode not in {"development", "production"}:
            raise ConfigError(f"KAPDA_ENV must be development or production, got {mode!r}")
        production = mode == "production"
        data_dir = Path(env.get("KAPDA_DATA_DIR") or ".kapda")
        origins = _list(env, "KAPDA_CORS_ORIGINS")
        persisted_mode, trusted_documents = _persisted_queries(env)
        settings = cls(
            env=mode,
            database_url=env.get("KAPDA_DATABASE_URL") or None,
            data_dir=data_dir,
            jwt_secret=env.get("KAPDA_JWT_SECRET", ""),
            token_ttl_seconds=_int(env, "KAPDA_TOKEN_TTL_SECONDS", 7 * 24 * 3600),
            razorpay_key_id=env.get("KAPDA_RAZORPAY_KEY_ID") or ("" if production else SANDBOX_KEY_ID),
            razorpay_key_secret=env.get("KAPDA_RAZORPAY_KEY_SECRET")
            or ("" if production else SANDBOX_KEY_SECRET),
            razorpay_webhook_secret=env.get("KAPDA_RAZORPAY_WEBHOOK_SECRET")
            or ("" if production else SANDBOX_WEBHOOK_SECRET),
            razorpay_base_url=env.get("KAPDA_RAZORPAY_BASE_URL") or None,
            razorpay_timeout_seconds=_seconds(env, "KAPDA_RAZORPAY_TIMEOUT_SECONDS", 10.0),
            rate_limits=_env_flag(env, "KAPDA_RATE_LIMITS", True),
            redis_url=env.get("KAPDA_REDIS_URL") or None,
            graphiql=_env_flag(env, "KAPDA_GRAPHIQL", not production),
            introspection=_env_flag(env, "KAPDA_INTROSPECTION", not production),
            cors_origins=origins,
            max_body_bytes=_int(env, "KAPDA_MAX_BODY_BYTES", 1_000_000),
            max_header_bytes=_int(env, "KAPDA_MAX_HEADER_BYTES", 16 * 1024, minimum=1024),
            body_timeout_seconds=_seconds(env, "KAPDA_BODY_TIMEOUT_SECONDS", 10.0),
            persisted_queries=persisted_mode,
            trusted_documents=trusted_documents,
            persisted_query_days=_int(env, "KAPDA_PERSISTED_QUERY_DAYS", 30, minimum=1),
            http_cache_seconds=_int(env, "KAPDA_HTTP_CACHE_SECONDS", 10, minimum=0),
            catalog_cache_seconds=_non_negative_seconds(env, "KAPDA_CATALOG_CACHE_SECONDS", 2.0),
            catalog_cache_bytes=_int(env, "KAPDA_CATALOG_CACHE_BYTES", 32 * 1024 * 1024, minimum=0),
            max_query_depth=_int(env, "KAPDA_MAX_QUERY_DEPTH", 12),
            max_aliases=_int(env, "KAPDA_MAX_ALIASES", 30),
            max_tokens=_int(env, "KAPDA_MAX_TOKENS", 2_000),
            max_cost=_int(env, "KAPDA_MAX_COST", 20_000),
            max_page_size=_int(env, "KAPDA_MAX_PAGE_SIZE", 100),
            batching=_env_flag(env, "KAPDA_BATCHING", False),
            checkout_ttl_seconds=_int(env, "KAPDA_CHECKOUT_TTL_SECONDS", 15 * 60, minimum=1),
            stock_holds=_env_flag(env, "KAPDA_STOCK_HOLDS", True),
            reconcile_seconds=_seconds(env, "KAPDA_RECONCILE_SECONDS", 120.0),
            test_pause_after_capture_seconds=_non_negative_seconds(
                env, "KAPDA_TEST_PAUSE_AFTER_CAPTURE", 0.0
            ),
            cart_price_ttl_seconds=_int(env, "KAPDA_CART_PRICE_TTL_SECONDS", 7 * 24 * 3600, minimum=0),
            db_pool_size=_int(env, "KAPDA_DB_POOL_SIZE", 5, minimum=1),
            db_pool_overflow=_int(env, "KAPDA_DB_POOL_OVERFLOW", 0, minimum=0),
            db_connect_timeout_seconds=_seconds(env, "KAPDA_DB_CONNECT_TIMEOUT_SECONDS", 5.0),
            db_statement_timeout_seconds=_seconds(env, "KAPDA_DB_STATEMENT_TIMEOUT_SECONDS", 10.0),
            db_idle_in_transaction_timeout_seconds=_seconds(
                env, "KAPDA_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 30.0
            ),
            db_pool_timeout_seconds=_seconds(env, "KAPDA_DB_POOL_TIMEOUT_SECONDS", 5.0),
            sentry_dsn=env.get("KAPDA_SENTRY_DSN") or None,
            log_json=_env_flag(env, "KAPDA_LOG_JSON", True),
            rate_login_per_account=_rate(env, "KAPDA_RATE_LOGIN_ACCOUNT", (10, 300)),
            rate_login_per_ip=_rate(env, "KAPDA_RATE_LOGIN_IP", (50, 300)),
            rate_mutations_per_user=_rate(env, "KAPDA_RATE_MUTATIONS_USER", (60, 60)),
            rate_anonymous_per_ip=_rate(env, "KAPDA_RATE_ANONYMOUS_IP", (300, 60)),
            rate_requests_per_user=_rate(env, "KAPDA_RATE_REQUESTS_USER", (600, 60)),
            rate_mutations_per_ip=_rate(env, "KAPDA_RATE_MUTATIONS_IP", (20, 60)),
            trusted_proxies=_list(env, "KAPDA_TRUSTED_PROXIES"),
            metrics=_env_flag(env, "KAPDA_METRICS", True),
            metrics_token=env.get("KAPDA_METRICS_TOKEN") or None,
        )
        for origin in settings.cors_origins:
            if not CORS_ORIGIN_RE.match(origin):
                raise ConfigError(
                    f"KAPDA_CORS_ORIGINS: {origin!r} is not an origin like https://shop.example.com"
                )
        if production:
            settings.check_production()
        elif not settings.jwt_secret:
            settings = replace(settings, jwt_secret=_dev_secret(data_dir))
        return settings

    def check_production(self) -> None:
        """Refuse to run production on missing, weak or sandbox secrets, naming the culprit."""
        problems = []
        if not self.jwt_secret:
            problems.append("KAPDA_JWT_SECRET is missing")
        elif len(self.jwt_secret.encode()) < MIN_SECRET_LENGTH or len(set(self.jwt_secret)) < 10:
            problems.append(
                f"KAPDA_JWT_SECRET is weak: use at least {MIN_SECRET_LENGTH} random bytes "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        for name, value, sandbox in (
            ("KAPDA_RAZORPAY_KEY_ID", self.razorpay_key_id, SANDBOX_KEY_ID),
            ("KAPDA_RAZORPAY_KEY_SECRET", self.razorpay_key_secret, SANDBOX_KEY_SECRET),
            ("KAPDA_RAZORPAY_WEBHOOK_SECRET", self.razorpay_webhook_secret, SANDBOX_WEBHOOK_SECRET),
        ):
            if not value:
                problems.append(f"{name} is missing")
            elif value == sandbox:
                problems.append(f"{name} is the development sandbox value")
        if self.razorpay_base_url is not None:
            url_problem = _gateway_url_problem(self.razorpay_base_url)
            if url_problem:
                problems.append(f"KAPDA_RAZORPAY_BASE_URL {url_problem}")
        if not self.database_url:
            problems.append("KAPDA_DATABASE_URL is missing (the embedded database is for development)")
        if self.test_pause_after_capture_seconds:
            problems.append("KAPDA_TEST_PAUSE_AFTER_CAPTURE is a test hook (unset it)")
        if "*" in self.cors_origins:
            problems.append("KAPDA_CORS_ORIGINS must list the storefront's origins, not *")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


_LOCAL_SANDBOX = "points at the local sandbox"


def _gateway_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the production gateway (a loopback sandbox, not a URL), or None."""
    try:
        parsed = urlsplit(url.strip())
        host = (parsed.hostname or "").rstrip(".").lower()
    except ValueError:
        return "is not a URL"
    if parsed.scheme not in {"http", "https"} or not host:
        return "is not a URL"
    if host == "localhost" or host.endswith(".localhost"):
        return _LOCAL_SANDBOX
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return _LOCAL_SANDBOX
    return None


def _dev_secret(data_dir: Path) -> str:
    """Made once and kept in the data dir, so tokens survive restarts in development."""
    path = data_dir / "jwt-secret"
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        pass
    else:
        if not existing:
            raise ConfigError(f"{path} is empty: delete it to make a new development secret")
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Written privately beside it, then linked into place: the file is never seen half-written,
    # and link() refuses to replace, so of two processes starting at once exactly one secret wins.
    draft = data_dir / f".jwt-secret.{os.getpid()}.{secrets.token_hex(4)}"
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(secret)
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        draft.unlink()
    return secret
