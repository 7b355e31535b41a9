"""The three roles as Django groups, each a set of the app's permissions (as team/roles.py
defined them when this migration was written: a later change of roles is a migration of its own)."""

from django.db import migrations

OPERATOR = ["add_readings", "ack_entries", "claim_entries", "start_jobs", "create_groups"]
STREAM_ADMIN = [*OPERATOR, "destroy_groups", "setid_groups", "delete_consumers", "redrive_dead_letters", "trim_streams"]
ROLES = {"viewers": [], "operators": OPERATOR, "stream-admins": [*STREAM_ADMIN, "read_audit"]}


def create_roles(apps, schema_editor):
    # Permissions are made after migrations run; make ours now so the groups can hold them.
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("streams_app")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(content_type__app_label="streams_app", codename__in=codenames))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("streams_app", "0003_audit_trail_and_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
