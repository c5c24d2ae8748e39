"""PostgreSQL: the ticket table's ASCII key columns (number, query token, the two paths, state)
compare byte by byte (``COLLATE "C"``) instead of through the database's locale (C.UTF-8 here:
``strcoll`` for every comparison, and no abbreviated keys when sorting). The order is the same
for these characters (digits, letters, ``.``, ``_``, and the ``~`` that ends a path range), so
no query answers differently; index builds and inserts into those indexes get cheaper
(``docs/stats.md``). The model fields do not declare it (SQLite has no such collation): a test
checks the columns keep it. SQLite is left alone."""

from django.db import migrations

COLUMNS = ("number", "public_token", "grid_path", "owner_path", "state")


def set_collation(apps, schema_editor, collation: str) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    ticket = apps.get_model("tickets", "Ticket")
    alters = ", ".join(
        f"ALTER COLUMN {name} TYPE {ticket._meta.get_field(name).db_type(connection)} "
        f"COLLATE {collation}"
        for name in COLUMNS
    )
    schema_editor.execute(f"ALTER TABLE tickets_ticket {alters}")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0010_ticket_fillfactor")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: set_collation(apps, editor, '"C"'),
            lambda apps, editor: set_collation(apps, editor, '"default"'),
        )
    ]
