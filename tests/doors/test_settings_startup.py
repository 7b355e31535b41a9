"""What `django.setup()` costs every command: daphne's server and the admin's modules are imported
when first used, not at set-up (streams_app/apps.py), while `runserver` stays daphne's, the admin
has every model, and the app's own config (its Redis check) is the one installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.apps import apps
from django.contrib import admin
from django.core.management import get_commands

from streams_app.apps import StreamsAppConfig
from streams_app.models import ApiToken, AuditEvent, ConsumerGroup, Reading

ROOT = Path(__file__).resolve().parents[2]

# Imported by daphne's app config and by the admin's autodiscovery, which `produce` needs neither of.
HEAVY = ["daphne.server", "twisted.internet.reactor", "autobahn", "streams_app.admin", "django_rq.stats_views"]


def modules_after(*argv: str) -> dict[str, bool]:
    """Which of HEAVY a fresh `manage.py <argv>` has imported once it is done."""
    script = (
        "import json, sys, runpy\n"
        f"sys.argv = ['manage.py', *{list(argv)!r}]\n"
        "try:\n"
        "    runpy.run_path('manage.py', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}), file=sys.stderr)\n"
    )
    env = {**os.environ, "WEATHERSTREAMS_VAR_DIR": os.environ.get("WEATHERSTREAMS_VAR_DIR", str(ROOT / "var"))}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_a_short_command_imports_neither_the_web_server_nor_the_admin():
    assert modules_after("produce", "--help") == dict.fromkeys(HEAVY, False)


def test_runserver_is_still_daphnes_and_imports_its_server():
    assert get_commands()["runserver"] == "daphne"
    assert modules_after("runserver", "--help")["daphne.server"] is True


def test_daphne_comes_before_staticfiles_as_its_own_check_wants():
    labels = [config.label for config in apps.get_app_configs()]
    assert labels.index("daphne") < labels.index("staticfiles")


def test_the_apps_own_config_is_the_one_installed():
    assert type(apps.get_app_config("streams_app")) is StreamsAppConfig


def test_the_admin_has_every_model_once_it_is_used():
    for model in (Reading, ConsumerGroup, ApiToken, AuditEvent):
        assert admin.site.is_registered(model), model
    labels = {model._meta.app_label for model in admin.site._registry}
    assert {"auth", "axes", "django_rq", "streams_app"} <= labels


def test_the_admin_and_the_django_rq_dashboard_answer_staff(admin_client):
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/streams_app/reading/add/").status_code == 200
    assert admin_client.get("/admin/rq/").status_code == 200
