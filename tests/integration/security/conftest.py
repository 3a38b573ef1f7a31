"""The hardening fixtures (apps of our own with chosen settings, captured logs) for these tests."""

from tests.hardening.conftest import logs, production_settings, serve

__all__ = ["logs", "production_settings", "serve"]
