"""PostgreSQL: leave 15 % of each ticket-table page free, so that an UPDATE touching no indexed
column (the SLA sweeper's claim of a warning or an overdue action: ``warned_gen``,
``overdue_gen``) is a heap-only tuple update — the new row version stays on its page and none of
the table's indexes gets a new entry. SQLite has no such setting."""

from django.db import migrations


def set_fillfactor(apps, schema_editor, value: int | None) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    if value is None:
        schema_editor.execute("ALTER TABLE tickets_ticket RESET (fillfactor)")
    else:
        schema_editor.execute(f"ALTER TABLE tickets_ticket SET (fillfactor = {value})")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0009_submission_lean_indexes")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: set_fillfactor(apps, editor, 85),
            lambda apps, editor: set_fillfactor(apps, editor, None),
        )
    ]
