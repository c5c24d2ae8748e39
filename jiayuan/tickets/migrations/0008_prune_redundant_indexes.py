"""Drop the ticket tables' indexes that another index already serves, narrow the event table's.

Every ticket written paid for them (24 indexes on the ticket table, 10 on the event table), and
the bulk load of the history generator rebuilt them. The ticket's ``grid``, ``owner_region``
and ``owner_user`` and the event's and assignment's ``ticket`` each lead a composite index (the
lookups by that key use it); PostgreSQL's second, ``varchar_pattern_ops`` index on ``number`` and
``public_token`` (made for ``unique=True`` CharFields, for LIKE 'x%') served no query. On the
event table, ``(action, at)`` served one query (today's resolutions): a partial index on ``at``
for resolve events replaces it; the references to users, posts, regions and departments are read
only when one of those is deleted, and are indexed only where the event names one.

The foreign keys' indexes are dropped by name rather than by ``AlterField``: Django's schema
editor, removing ``db_index`` from ``TicketAssignment.ticket``, also drops every other
single-column index on ``ticket_id`` — the partial unique index ``assignment_one_live_lead``
among them — and does not recreate it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import jiayuan.tickets.models

# (model, field, index Django named for the field, table, column): the same on both engines.
FK_INDEXES = [
    ("ticket", "grid", "tickets_ticket_grid_id_53311085", "tickets_ticket", "grid_id"),
    (
        "ticket",
        "owner_region",
        "tickets_ticket_owner_region_id_2290c454",
        "tickets_ticket",
        "owner_region_id",
    ),
    (
        "ticket",
        "owner_user",
        "tickets_ticket_owner_user_id_ced9b7aa",
        "tickets_ticket",
        "owner_user_id",
    ),
    (
        "ticketevent",
        "ticket",
        "tickets_ticketevent_ticket_id_b572d14b",
        "tickets_ticketevent",
        "ticket_id",
    ),
    (
        "ticketassignment",
        "ticket",
        "tickets_ticketassignment_ticket_id_5eb91da6",
        "tickets_ticketassignment",
        "ticket_id",
    ),
    *(
        ("ticketevent", field, index, "tickets_ticketevent", f"{field}_id")
        for field, index in [
            ("actor", "tickets_ticketevent_actor_id_2a65fff2"),
            ("post", "tickets_ticketevent_post_id_0e122741"),
            ("from_region", "tickets_ticketevent_from_region_id_b1d71000"),
            ("to_region", "tickets_ticketevent_to_region_id_7b2ea180"),
            ("department", "tickets_ticketevent_department_id_7ff9155b"),
        ]
    ),
]

REFERENCES = {
    "actor": settings.AUTH_USER_MODEL,
    "post": "staff.post",
    "from_region": "regions.region",
    "to_region": "regions.region",
    "department": "staff.department",
}

FIELDS = {
    ("ticket", "grid"): models.ForeignKey(
        blank=True,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="grid_tickets",
        to="regions.region",
        verbose_name="所在网格",
    ),
    ("ticket", "owner_region"): models.ForeignKey(
        blank=True,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="owned_tickets",
        to="regions.region",
        verbose_name="当前承办区划",
    ),
    ("ticket", "owner_user"): models.ForeignKey(
        blank=True,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.SET_NULL,
        related_name="owned_tickets",
        to=settings.AUTH_USER_MODEL,
        verbose_name="当前承办人",
    ),
    ("ticketevent", "ticket"): models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="events",
        to="tickets.ticket",
        verbose_name="工单",
    ),
    ("ticketassignment", "ticket"): models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.CASCADE,
        related_name="assignments",
        to="tickets.ticket",
        verbose_name="工单",
    ),
    **{
        ("ticketevent", name): models.ForeignKey(
            blank=True,
            db_index=False,
            null=True,
            on_delete=(
                django.db.models.deletion.SET_NULL
                if name in ("actor", "post")
                else django.db.models.deletion.PROTECT
            ),
            related_name="+",
            to=to,
            **(
                {"verbose_name": {"actor": "操作人", "post": "岗位"}[name]}
                if name in ("actor", "post")
                else {}
            ),
        )
        for name, to in REFERENCES.items()
    },
}


class Migration(migrations.Migration):
    dependencies = [
        ("regions", "0002_care_tag_types"),
        ("staff", "0001_initial"),
        ("tickets", "0007_overdue_partial_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The unique constraints first: the old unique indexes go only once these exist.
        migrations.AddConstraint(
            model_name="ticket",
            constraint=models.UniqueConstraint(fields=("number",), name="ticket_number_unique"),
        ),
        migrations.AddConstraint(
            model_name="ticket",
            constraint=models.UniqueConstraint(
                fields=("public_token",), name="ticket_public_token_unique"
            ),
        ),
        migrations.AlterField(
            model_name="ticket",
            name="number",
            field=models.CharField(max_length=20, verbose_name="工单编号"),
        ),
        migrations.AlterField(
            model_name="ticket",
            name="public_token",
            field=models.CharField(
                default=jiayuan.tickets.models.new_public_token,
                editable=False,
                max_length=32,
                verbose_name="查询令牌",
            ),
        ),
        *(
            migrations.SeparateDatabaseAndState(
                state_operations=[
                    migrations.AlterField(
                        model_name=model, name=field, field=FIELDS[(model, field)]
                    )
                ],
                database_operations=[
                    migrations.RunSQL(
                        f'DROP INDEX IF EXISTS "{index}"',
                        reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{column}")',
                    )
                ],
            )
            for model, field, index, table, column in FK_INDEXES
        ),
        migrations.RemoveIndex(model_name="ticketevent", name="ticketevent_action_at"),
        migrations.AddIndex(
            model_name="ticketevent",
            index=models.Index(
                condition=models.Q(("action", "resolve")),
                fields=["at"],
                name="ticketevent_resolve_at",
            ),
        ),
        *(
            migrations.AddIndex(
                model_name="ticketevent",
                index=models.Index(
                    condition=models.Q((f"{name}__isnull", False)),
                    fields=[name],
                    name=f"ticketevent_{name}",
                ),
            )
            for name in REFERENCES
        ),
    ]
