"""Settings from the environment: with production values, Django's deployment checks pass
without a single warning; with unsafe values they do not."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(tmp_path: Path, *args: str, **env_changes: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)  # REDIS_URL (the suite's own server) is kept
    for name in ("DJANGO_HTTPS", "DATABASE_URL", "DJANGO_CSRF_TRUSTED_ORIGINS", "TIME_ZONE"):
        env.pop(name, None)
    env["WEATHERSTREAMS_VAR_DIR"] = str(tmp_path)  # nothing is written into the checkout's var/
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def production_env() -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "example.com",
    }


def test_deploy_check_passes_without_warnings_in_production(tmp_path, streams_url):
    assert os.environ["REDIS_URL"] == streams_url
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output and "?: (" not in output, output
    assert "System check identified no issues" in output


def test_deploy_check_fails_with_a_weak_secret_key(tmp_path):
    env = production_env() | {"DJANGO_SECRET_KEY": "django-insecure-short"}
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_an_unreadable_debug_flag_is_refused_with_a_clear_message(tmp_path, value):
    result = manage(tmp_path, "check", **(production_env() | {"DJANGO_DEBUG": value}))
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be one of" in result.stderr
