"""manage.py migrate_keys [--dry-run]: move the keys the previous version named without hash tags
(dead letters, handler errors, statistics) to their names in the stream's hash slot; once,
after upgrading. Running it again finds nothing to do."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from streams_app.conf import app_settings
from streams_app.domain.key_migration import describe_move, keys_migrate, migration_summary
from streams_app.errors import DomainError
from streams_app.gateway.key_migration import key_migration_store
from streams_app.gateway.keys import display_name
from streams_app.key_templates import dead_letter_template_problem
from streams_app.team.audit import Actor, audit_record
from streams_app.team.roles import Action

# Recorded in the audit trail; its permission is never asked for (commands run as "cli").
MIGRATE_KEYS = Action("migrate_keys", "trim_streams", "migrate keys")


class Command(BaseCommand):
    # No system checks: they load every URL and view, and this command needs neither.
    requires_system_checks = ()
    help = (
        "Move the keys of the previous key scheme (<stream>:dead, weatherstreams:errors:<group>:<stream>, "
        "weatherstreams:stats:<stream>[:<minute>]) to their names in the stream's hash slot ({<stream>}:dead, "
        "weatherstreams:{<stream>}:…), merging with keys already there. Idempotent; run it on the single Redis "
        "the previous version used."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        template = app_settings().dead_letter_stream
        parser.add_argument("--dry-run", action="store_true", help="list what would move and change nothing")
        parser.add_argument(
            "--dead-letter",
            default=template,
            metavar="TEMPLATE",
            help=f"the dead-letter template the previous version's workers used (default {template})",
        )

    def handle(self, *args, **options) -> None:
        template, dry_run = options["dead_letter"], options["dry_run"]
        if problem := dead_letter_template_problem(template):
            raise CommandError(f"--dead-letter {problem}")
        try:
            migration = keys_migrate(store=key_migration_store(), dead_letter_template=template, dry_run=dry_run)
        except DomainError as error:
            if not dry_run:
                self._record(succeeded=False, outcome=f"failed: {error.message}", detail={"dead_letter": template})
            raise CommandError(error.message) from error
        for move in migration.moves:
            self.stdout.write(describe_move(move, dry_run=dry_run))
        for left in migration.left:
            self.stdout.write(f"left {display_name(left.key)}: {left.why}")
        summary = migration_summary(migration)
        self.stdout.write(summary)
        if not dry_run:
            detail = {"dead_letter": template, "moved": migration.counts, "left": len(migration.left)}
            self._record(succeeded=True, outcome=summary, detail=detail)

    def _record(self, *, succeeded: bool, outcome: str, detail: dict) -> None:
        """The audit trail's line for this run (as user "cli"); a database that cannot take it is
        said on stderr: the keys are moved either way."""
        try:
            audit_record(Actor(None, "command"), MIGRATE_KEYS, succeeded=succeeded, outcome=outcome, detail=detail)
        except DatabaseError as error:
            self.stderr.write(f"Not recorded in the audit trail ({error}); run `python manage.py migrate`.")
