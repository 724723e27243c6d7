"""Production settings: Django's deployment checks pass, and a missing secret stops the app from starting.

Each check runs in a subprocess with a clean environment (none of the test settings pytest-env
sets), as a production server would start.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def production_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """Only what a production server sets; `DATA_DIR` keeps the default SQLite file out of the project."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / "data"), **variables}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_with_production_settings(tmp_path: Path) -> None:
    env = production_env(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="school.example")

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_debug_false_is_production_too(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="school.example",
    )

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, result.stdout + result.stderr


def test_settings_refuse_to_load_without_a_secret_key_when_debug_is_off(tmp_path: Path) -> None:
    for debug in ({}, {"DJANGO_DEBUG": "false"}):
        env = production_env(tmp_path, DJANGO_ALLOWED_HOSTS="school.example", **debug)

        result = run(["manage.py", "check"], env)

        assert result.returncode != 0
        assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr


def test_development_runs_without_a_secret_key(tmp_path: Path) -> None:
    result = run(["manage.py", "check"], production_env(tmp_path, DJANGO_DEBUG="true"))

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
