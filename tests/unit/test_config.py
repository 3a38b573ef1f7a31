"""Settings from the environment: development works with nothing set; production refuses bad secrets."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest

from kapda_gql import cli
from kapda_gql.config import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET, ConfigError, Settings

STRONG = secrets.token_urlsafe(48)


def production(**over: str) -> dict[str, str]:
    env = {
        "KAPDA_ENV": "production",
        "KAPDA_DATABASE_URL": "postgresql://kapda@db.internal/kapda",
        "KAPDA_JWT_SECRET": STRONG,
        "KAPDA_RAZORPAY_KEY_ID": "rzp_live_abc123",
        "KAPDA_RAZORPAY_KEY_SECRET": secrets.token_hex(16),
        "KAPDA_RAZORPAY_WEBHOOK_SECRET": secrets.token_hex(16),
    }
    env.update(over)
    return {k: v for k, v in env.items() if v != "<unset>"}


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    return str(caught.value)


def test_development_works_with_nothing_set(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings.from_env({"KAPDA_DATA_DIR": str(data_dir)})
    assert settings.env == "development" and not settings.production
    assert settings.database_url is None  # the embedded PostgreSQL
    assert settings.data_dir == data_dir
    assert (settings.razorpay_key_id, settings.razorpay_key_secret, settings.razorpay_webhook_secret) == (
        SANDBOX_KEY_ID,
        SANDBOX_KEY_SECRET,
        SANDBOX_WEBHOOK_SECRET,
    )
    assert settings.sandbox_gateway
    assert settings.graphiql is True
    assert settings.rate_limits is True

    # The JWT secret is made once, kept in the data dir (private), and reused on the next start.
    secret_file = data_dir / "jwt-secret"
    assert secret_file.read_text().strip() == settings.jwt_secret
    assert len(settings.jwt_secret) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    again = Settings.from_env({"KAPDA_DATA_DIR": str(data_dir)})
    assert again.jwt_secret == settings.jwt_secret
    other = Settings.from_env({"KAPDA_DATA_DIR": str(tmp_path / "elsewhere")})
    assert other.jwt_secret != settings.jwt_secret


def test_development_uses_a_given_secret_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings.from_env({"KAPDA_DATA_DIR": str(tmp_path), "KAPDA_JWT_SECRET": "dev-secret"})
    assert settings.jwt_secret == "dev-secret"
    assert not (tmp_path / "jwt-secret").exists()


def test_environment_values_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "KAPDA_DATA_DIR": str(tmp_path),
            "KAPDA_DATABASE_URL": "postgresql://u@h/db",
            "KAPDA_RATE_LIMITS": "off",
            "KAPDA_RAZORPAY_BASE_URL": "http://127.0.0.1:9999",
            "KAPDA_RAZORPAY_KEY_ID": "rzp_test_mine",
            "KAPDA_RAZORPAY_TIMEOUT_SECONDS": "4.5",
        }
    )
    assert settings.razorpay_timeout_seconds == 4.5
    assert Settings.from_env({"KAPDA_DATA_DIR": str(tmp_path)}).razorpay_timeout_seconds == 10.0
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.rate_limits is False
    assert settings.razorpay_base_url == "http://127.0.0.1:9999"
    assert settings.razorpay_key_id == "rzp_test_mine"


def test_bad_values_are_refused_by_name(tmp_path: Path) -> None:
    assert "KAPDA_ENV" in refusal({"KAPDA_ENV": "staging"})
    assert "KAPDA_RATE_LIMITS" in refusal({"KAPDA_DATA_DIR": str(tmp_path), "KAPDA_RATE_LIMITS": "maybe"})
    assert "KAPDA_TOKEN_TTL_SECONDS" in refusal(
        {"KAPDA_DATA_DIR": str(tmp_path), "KAPDA_TOKEN_TTL_SECONDS": "a week"}
    )
    assert "KAPDA_RAZORPAY_TIMEOUT_SECONDS must be more than 0" in refusal(
        {"KAPDA_DATA_DIR": str(tmp_path), "KAPDA_RAZORPAY_TIMEOUT_SECONDS": "0"}
    )
    # A pool of no connections would leave every request waiting forever.
    assert "KAPDA_DB_POOL_SIZE must be at least 1" in refusal(
        {"KAPDA_DATA_DIR": str(tmp_path), "KAPDA_DB_POOL_SIZE": "0"}
    )
    assert "KAPDA_DB_POOL_OVERFLOW must be at least 0" in refusal(
        {"KAPDA_DATA_DIR": str(tmp_path), "KAPDA_DB_POOL_OVERFLOW": "-1"}
    )


def test_http_settings_default_are_read_and_checked(tmp_path: Path) -> None:
    base = {"KAPDA_DATA_DIR": str(tmp_path)}
    defaults = Settings.from_env(base)
    assert (defaults.persisted_queries, defaults.trusted_documents) == ("apq", None)
    assert (defaults.http_cache_seconds, defaults.body_timeout_seconds, defaults.max_header_bytes) == (
        10,
        10.0,
        16 * 1024,
    )
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    settings = Settings.from_env(
        {
            **base,
            "KAPDA_PERSISTED_QUERIES": "trusted",
            "KAPDA_TRUSTED_DOCUMENTS": str(manifest),
            "KAPDA_HTTP_CACHE_SECONDS": "30",
            "KAPDA_BODY_TIMEOUT_SECONDS": "1.5",
        }
    )
    assert (settings.persisted_queries, settings.trusted_documents) == ("trusted", manifest)
    assert (settings.http_cache_seconds, settings.body_timeout_seconds) == (30, 1.5)
    assert Settings.from_env({**base, "KAPDA_PERSISTED_QUERIES": "OFF"}).persisted_queries == "off"
    assert defaults.persisted_query_days == 30
    assert Settings.from_env({**base, "KAPDA_PERSISTED_QUERY_DAYS": "7"}).persisted_query_days == 7
    assert "KAPDA_PERSISTED_QUERY_DAYS" in refusal({**base, "KAPDA_PERSISTED_QUERY_DAYS": "0"})
    assert "KAPDA_PERSISTED_QUERIES" in refusal({**base, "KAPDA_PERSISTED_QUERIES": "sometimes"})
    assert "KAPDA_TRUSTED_DOCUMENTS" in refusal({**base, "KAPDA_PERSISTED_QUERIES": "trusted"})
    assert "is not a file" in refusal(
        {**base, "KAPDA_PERSISTED_QUERIES": "trusted", "KAPDA_TRUSTED_DOCUMENTS": str(tmp_path / "nope")}
    )
    assert "KAPDA_BODY_TIMEOUT_SECONDS" in refusal({**base, "KAPDA_BODY_TIMEOUT_SECONDS": "0"})
    assert "KAPDA_HTTP_CACHE_SECONDS" in refusal({**base, "KAPDA_HTTP_CACHE_SECONDS": "-1"})


def test_production_with_good_settings_starts() -> None:
    settings = Settings.from_env(production())
    assert settings.production
    assert settings.jwt_secret == STRONG
    assert settings.graphiql is False  # off by default in production


def test_production_refuses_a_missing_jwt_secret(tmp_path: Path) -> None:
    message = refusal(production(KAPDA_JWT_SECRET="<unset>", KAPDA_DATA_DIR=str(tmp_path)))
    assert "KAPDA_JWT_SECRET is missing" in message
    assert not (tmp_path / "jwt-secret").exists()  # production never invents a secret


@pytest.mark.parametrize(
    "weak", ["hunter2", "changeme-changeme", "a" * 64, "abababababababababababababababab1234", "é" * 5]
)
def test_production_refuses_a_weak_jwt_secret(weak: str) -> None:
    message = refusal(production(KAPDA_JWT_SECRET=weak))
    assert "KAPDA_JWT_SECRET is weak" in message
    assert weak not in message  # the error names the setting, it does not print the secret


@pytest.mark.parametrize(
    ("name", "sandbox_value"),
    [
        ("KAPDA_RAZORPAY_KEY_ID", SANDBOX_KEY_ID),
        ("KAPDA_RAZORPAY_KEY_SECRET", SANDBOX_KEY_SECRET),
        ("KAPDA_RAZORPAY_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET),
    ],
)
def test_production_refuses_sandbox_or_missing_razorpay_credentials(name: str, sandbox_value: str) -> None:
    message = refusal(production(**{name: sandbox_value}))
    assert name in message and "sandbox" in message
    others = {"KAPDA_RAZORPAY_KEY_ID", "KAPDA_RAZORPAY_KEY_SECRET", "KAPDA_RAZORPAY_WEBHOOK_SECRET"} - {name}
    assert not any(other in message for other in others)  # it names exactly the culprit
    assert f"{name} is missing" in refusal(production(**{name: "<unset>"}))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8001",
        "http://localhost:8001/",
        "http://[::1]:8001",
        "http://0.0.0.0:8001",
        "https://LOCALHOST",
        "http://sandbox.localhost:8001",
    ],
)
def test_production_refuses_the_sandbox_url(url: str) -> None:
    message = refusal(production(KAPDA_RAZORPAY_BASE_URL=url))
    assert "KAPDA_RAZORPAY_BASE_URL" in message


def test_production_accepts_a_real_gateway_url() -> None:
    settings = Settings.from_env(production(KAPDA_RAZORPAY_BASE_URL="https://api.razorpay.com"))
    assert settings.razorpay_base_url == "https://api.razorpay.com"


def test_production_names_every_problem_at_once() -> None:
    message = refusal({"KAPDA_ENV": "production"})
    for name in (
        "KAPDA_JWT_SECRET",
        "KAPDA_RAZORPAY_KEY_ID",
        "KAPDA_RAZORPAY_KEY_SECRET",
        "KAPDA_RAZORPAY_WEBHOOK_SECRET",
        "KAPDA_DATABASE_URL",
    ):
        assert name in message


def test_the_command_refuses_to_start_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAPDA_ENV", "production")
    monkeypatch.setenv("KAPDA_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/x")
    monkeypatch.setenv("KAPDA_JWT_SECRET", "short")
    for name in ("KAPDA_RAZORPAY_KEY_ID", "KAPDA_RAZORPAY_KEY_SECRET", "KAPDA_RAZORPAY_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, secrets.token_hex(12))
    monkeypatch.delenv("KAPDA_RAZORPAY_BASE_URL", raising=False)
    assert cli.main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "KAPDA_JWT_SECRET is weak" in err
    assert "Traceback" not in err


def test_workers_starting_together_share_one_development_secret(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    env = {"KAPDA_DATA_DIR": str(tmp_path)}
    with ThreadPoolExecutor(8) as pool:
        found = set(pool.map(lambda _: Settings.from_env(env).jwt_secret, range(16)))
    assert len(found) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["jwt-secret"]  # no drafts left behind


def test_an_empty_secret_file_is_refused_not_used(tmp_path: Path) -> None:
    (tmp_path / "jwt-secret").write_text("\n")
    assert "jwt-secret" in refusal({"KAPDA_DATA_DIR": str(tmp_path)})


def test_the_cart_price_ttl_is_seven_days_unless_set(tmp_path: Path) -> None:
    base = {"KAPDA_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).cart_price_ttl_seconds == 7 * 24 * 3600
    assert Settings.from_env({**base, "KAPDA_CART_PRICE_TTL_SECONDS": "3600"}).cart_price_ttl_seconds == 3600
    assert "KAPDA_CART_PRICE_TTL_SECONDS" in refusal({**base, "KAPDA_CART_PRICE_TTL_SECONDS": "a week"})
    assert "KAPDA_CART_PRICE_TTL_SECONDS" in refusal({**base, "KAPDA_CART_PRICE_TTL_SECONDS": "-1"})


def test_catalog_cache_settings(tmp_path: Path) -> None:
    base = {"KAPDA_DATA_DIR": str(tmp_path)}
    defaults = Settings.from_env(base)
    assert (defaults.catalog_cache_seconds, defaults.catalog_cache_bytes) == (2.0, 32 * 1024 * 1024)
    chosen = Settings.from_env(
        {**base, "KAPDA_CATALOG_CACHE_SECONDS": "0.5", "KAPDA_CATALOG_CACHE_BYTES": "1000"}
    )
    assert (chosen.catalog_cache_seconds, chosen.catalog_cache_bytes) == (0.5, 1000)
    assert Settings.from_env({**base, "KAPDA_CATALOG_CACHE_SECONDS": "0"}).catalog_cache_seconds == 0
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(ConfigError, match="KAPDA_CATALOG_CACHE_SECONDS"):
            Settings.from_env({**base, "KAPDA_CATALOG_CACHE_SECONDS": bad})


def test_the_pause_after_capture_test_hook_is_off_by_default_and_refused_in_production(
    tmp_path: Path,
) -> None:
    base = {"KAPDA_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).test_pause_after_capture_seconds == 0.0
    hooked = {**base, "KAPDA_TEST_PAUSE_AFTER_CAPTURE": "2.5"}
    assert Settings.from_env(hooked).test_pause_after_capture_seconds == 2.5
    assert "KAPDA_TEST_PAUSE_AFTER_CAPTURE" in refusal({**base, "KAPDA_TEST_PAUSE_AFTER_CAPTURE": "-1"})
    message = refusal(production(KAPDA_TEST_PAUSE_AFTER_CAPTURE="2.5"))
    assert "KAPDA_TEST_PAUSE_AFTER_CAPTURE is a test hook" in message
    assert Settings.from_env(production(KAPDA_TEST_PAUSE_AFTER_CAPTURE="0")).production
