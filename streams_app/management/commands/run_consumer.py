"""manage.py run_consumer NAME: a named worker in a consumer group (the tutorial's alice and bob)."""

from __future__ import annotations

import sys
from dataclasses import replace

from django.core.management.base import BaseCommand, CommandError, CommandParser

from streams_app.conf import app_settings
from streams_app.domain.ids import parse_new_entry_id
from streams_app.domain.names import validate_city
from streams_app.errors import BadInput
from streams_app.gateway.clients import startup_problem
from streams_app.key_templates import dead_letter_template_problem
from streams_app.worker import WorkerConfig, WorkerRefused
from streams_app.worker.build import run_worker_process, worker_config

NAME_RULES = "1–64 letters, digits and _ - . :"


class Command(BaseCommand):
    # No system checks: they load every URL and view, and this command needs neither (it starts faster).
    requires_system_checks = ()
    help = (
        "Run a named consumer in a consumer group: process its own pending entries first, then new ones, "
        "ack after the handler succeeds, claim entries left idle by others, dead-letter poison entries. "
        "The first SIGTERM/Ctrl-C stops after the entry in hand; a second stops at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        conf = app_settings()
        parser.add_argument("name", help=f"the consumer's name, e.g. alice ({NAME_RULES})")
        parser.add_argument("--group", default=conf.group, help=f"consumer group (default {conf.group})")
        parser.add_argument(
            "--stream",
            action="append",
            dest="streams",
            help=f"a stream to consume; repeat for several (default: {', '.join(conf.cities)})",
        )
        parser.add_argument(
            "--handler",
            default=conf.worker_handler,
            help="dotted path of the handler: a callable taking a Message, or a class building one "
            f"(default {conf.worker_handler}; streams_app.worker.handlers.noop does nothing)",
        )
        parser.add_argument(
            "--count", type=int, default=conf.worker_count, help=f"batch size (default {conf.worker_count})"
        )
        parser.add_argument(
            "--block",
            type=int,
            default=conf.worker_block_ms,
            help=f"longest wait for new entries, ms (default {conf.worker_block_ms})",
        )
        parser.add_argument(
            "--claim-idle",
            type=int,
            default=conf.worker_claim_idle_ms,
            help=f"claim entries pending longer than this, ms (default {conf.worker_claim_idle_ms})",
        )
        parser.add_argument(
            "--max-deliveries",
            type=int,
            default=conf.worker_max_deliveries,
            help=f"dead-letter an entry delivered more often (default {conf.worker_max_deliveries})",
        )
        parser.add_argument(
            "--start-id",
            default=conf.worker_start_id,
            help="where a new group starts: $ (new entries only), 0 (everything) or an ID "
            f"(default {conf.worker_start_id}; ignored if the group exists)",
        )
        parser.add_argument(
            "--dead-letter",
            default=conf.dead_letter_stream,
            help=f"dead-letter stream name, {{stream}} is replaced (default {conf.dead_letter_stream})",
        )
        parser.add_argument(
            "--work-seconds",
            type=float,
            default=0.0,
            help="simulated slow work per entry, in seconds, as in the tutorial's demo",
        )

    def handle(self, *args, **options) -> None:
        if problem := startup_problem():
            raise CommandError(problem)
        config = self._config(options)
        try:
            code = run_worker_process(config, handler_path=options["handler"])
        except BadInput as error:
            raise CommandError(error.message) from error
        except WorkerRefused as error:
            self.stderr.write(str(error))
            sys.exit(2)
        sys.exit(code)

    def _config(self, options: dict) -> WorkerConfig:
        try:
            name = validate_city(options["name"], field="name", label="consumer name")
            group = validate_city(options["group"], field="group", label="group name")
            config = worker_config(
                name=name,
                streams=options["streams"],
                group=group,
                count=options["count"],
                block_ms=options["block"],
                claim_idle_ms=options["claim_idle"],
                max_deliveries=options["max_deliveries"],
                start_id=options["start_id"],
                dead_letter_template=options["dead_letter"],
                work_seconds=options["work_seconds"],
            )
            for stream in config.streams:
                validate_city(stream, field="stream", label="stream name")
            if config.start_id not in {"$", "0"}:
                config = replace(config, start_id=parse_new_entry_id(config.start_id, field="start-id"))
        except BadInput as error:
            raise CommandError(error.message) from error
        for option, minimum in (("count", 1), ("block", 1), ("claim_idle", 1), ("max_deliveries", 1)):
            if options[option] < minimum:
                raise CommandError(f"--{option.replace('_', '-')} must be at least {minimum}.")
        if options["work_seconds"] < 0:
            raise CommandError("--work-seconds cannot be negative.")
        if problem := dead_letter_template_problem(options["dead_letter"]):
            raise CommandError(f"--dead-letter {problem}")
        return config
