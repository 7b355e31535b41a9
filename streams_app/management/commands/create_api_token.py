"""manage.py create_api_token USERNAME: a key for scripts calling the JSON API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from streams_app.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API token for USERNAME and print it (only its hash is stored: keep it safe)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")

    def handle(self, *args, **options) -> None:
        try:
            user = get_user_model().objects.get_by_natural_key(options["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"There is no user called {options['username']!r}.") from None
        _, key = ApiToken.objects.issue(user=user, name=options["name"])
        self.stdout.write(key)
