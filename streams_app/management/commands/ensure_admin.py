"""manage.py ensure_admin: on a first run, create a local admin account and say how to log in."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create a superuser (with a random password, printed once) if the database has none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where the app is served, for the message")

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=options["username"], email="", password=password)
        credentials = settings.VAR_DIR / "admin-login.txt"
        credentials.parent.mkdir(parents=True, exist_ok=True)
        credentials.write_text(f"username: {options['username']}\npassword: {password}\n")
        credentials.chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the admin account. Log in at {options['url']} as {options['username']} "
                f"with password {password}\n(also saved in {credentials}; change it with "
                f"`python manage.py changepassword {options['username']}`)."
            )
        )
