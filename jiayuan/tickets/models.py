"""The request pipeline's data: categories, tickets, their append-only events, department
assignments (主办/协办), attachments, SLA policies and the daily number counter."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jiayuan.core.scoping import Scope, ScopedManager, subtree_q
from jiayuan.tickets.choices import (
    OPEN_STATES,
    AssignmentRole,
    AssignmentState,
    Channel,
    Level,
    Rating,
    State,
    Urgency,
)


def new_public_token() -> str:
    return secrets.token_urlsafe(16)


class Category(models.Model):
    """诉求分类: a two-level tree kept as data (一级: 城乡建设 …; 二级: 物业管理 …)."""

    code = models.SlugField("编码", max_length=40, unique=True)
    name = models.CharField("名称", max_length=50)
    parent = models.ForeignKey(
        "self",
        verbose_name="上级分类",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    urgent = models.BooleanField("紧急类（按小时计时）", default=False)
    description = models.CharField("说明", max_length=200, blank=True)
    keywords = models.CharField("关键词", max_length=200, blank=True)
    sort = models.PositiveSmallIntegerField("排序", default=0)
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "诉求分类"
        verbose_name_plural = verbose_name
        ordering = ["sort", "code"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_name_per_parent")
        ]

    def __str__(self) -> str:
        return f"{self.parent.name}/{self.name}" if self.parent_id and self.parent else self.name


class Ticket(models.Model):
    """诉求 / 工单: one request, from any channel, on its way up and down the ladder.

    ``state``, ``level`` and the owner fields change only through ``workflow.transition``, which
    appends a ``TicketEvent`` and updates the row with a conditional UPDATE on ``version``.
    """

    # Unique by constraints in Meta, not ``unique=True``: on PostgreSQL that would add a second,
    # ``varchar_pattern_ops`` index to each (for LIKE 'x%'), which nothing here queries.
    number = models.CharField("工单编号", max_length=20)
    public_token = models.CharField(
        "查询令牌", max_length=32, default=new_public_token, editable=False
    )
    channel = models.CharField("来源渠道", max_length=10, choices=Channel.choices)
    category = models.ForeignKey(
        Category,
        verbose_name="分类",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
    )
    title = models.CharField("标题", max_length=120)
    description = models.TextField("诉求内容")
    urgency = models.CharField(
        "紧急程度", max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="提交人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_tickets",
    )
    reporter_name = models.CharField("联系人", max_length=50, blank=True)
    reporter_phone = models.CharField("联系电话", max_length=20, blank=True)
    anonymous = models.BooleanField("匿名", default=False)
    confidential = models.BooleanField("保密", default=False)

    building = models.ForeignKey(
        "regions.Building",
        verbose_name="楼栋",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
    )
    household = models.ForeignKey(
        "regions.Household",
        verbose_name="户",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
    )
    lng = models.FloatField("经度", null=True, blank=True)
    lat = models.FloatField("纬度", null=True, blank=True)
    address = models.CharField("地址", max_length=200, blank=True)
    grid = models.ForeignKey(
        "regions.Region",
        verbose_name="所在网格",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="grid_tickets",
        db_index=False,  # ticket_grid_created (grid, created_at) serves it
    )

    # Copies of grid.path and owner_region.path, kept by services/workflow, so the scoping gate
    # is an index range on the ticket table itself rather than a join per row.
    grid_path = models.CharField(max_length=255, blank=True, default="", editable=False)
    owner_path = models.CharField(max_length=255, blank=True, default="", editable=False)

    state = models.CharField("状态", max_length=12, choices=State.choices)
    level = models.CharField("当前层级", max_length=12, choices=Level.choices)
    owner_region = models.ForeignKey(
        "regions.Region",
        verbose_name="当前承办区划",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_tickets",
        db_index=False,  # ticket_owner_state (owner_region, state) serves it
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="当前承办人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_tickets",
        db_index=False,  # ticket_owner_user_state (owner_user, state) serves it
    )
    called_from = models.ForeignKey(
        "regions.Region",
        verbose_name="呼叫来源",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    accept_due = models.DateTimeField("签收期限", null=True, blank=True)
    resolve_due = models.DateTimeField("办结期限", null=True, blank=True)
    feedback_due = models.DateTimeField("反馈期限", null=True, blank=True)
    supervised = models.BooleanField("督办中", default=False)
    supervise_due = models.DateTimeField("督办期限", null=True, blank=True)
    extension_requested_days = models.PositiveSmallIntegerField(
        "申请延期(工作日)", null=True, blank=True
    )
    # SLA sweep bookkeeping: each deadline change bumps deadline_gen; the sweeper claims a warning
    # or an overdue action by moving warned_gen / overdue_gen up to it in one conditional UPDATE.
    deadline_gen = models.PositiveIntegerField(default=0)
    warned_gen = models.PositiveIntegerField(default=0)
    overdue_gen = models.PositiveIntegerField(default=0)

    reopen_count = models.PositiveSmallIntegerField("重办次数", default=0)
    rating = models.CharField("评价", max_length=12, choices=Rating.choices, blank=True)
    rating_comment = models.CharField("评价意见", max_length=500, blank=True)
    result = models.TextField("办理结果", blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name="合并到",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_tickets",
    )

    attributes = models.JSONField("附加信息", default=dict, blank=True)
    media_url = models.URLField("图片链接", max_length=500, blank=True)

    external_ref = models.CharField("外部编号", max_length=40, blank=True)
    idempotency_scope = models.CharField(max_length=60, blank=True, editable=False)
    idempotency_key = models.CharField(max_length=100, blank=True, editable=False)

    created_at = models.DateTimeField("提交时间", default=timezone.now, db_index=True)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)
    accepted_at = models.DateTimeField("首次响应时间", null=True, blank=True)
    resolved_at = models.DateTimeField("办结时间", null=True, blank=True)
    closed_at = models.DateTimeField("结案时间", null=True, blank=True)
    resolved_level = models.CharField("办结层级", max_length=12, choices=Level.choices, blank=True)

    version = models.PositiveIntegerField("版本", default=0)
    last_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = ScopedManager()

    class Meta:
        verbose_name = "诉求工单"
        verbose_name_plural = verbose_name
        ordering = ["-created_at", "-id"]
        indexes = [
            # The scope's two path ranges, with the state inside the index: an inbox count over
            # a street's open tickets checks the state without reading each row.
            models.Index(
                fields=["grid_path", "state", "created_at"], name="ticket_grid_path_state"
            ),
            models.Index(
                fields=["owner_path", "state", "created_at"], name="ticket_owner_path_state"
            ),
            models.Index(fields=["owner_user", "state"], name="ticket_owner_user_state"),
            models.Index(fields=["owner_region", "state"], name="ticket_owner_state"),
            models.Index(fields=["state", "resolve_due"], name="ticket_state_due"),
            models.Index(fields=["grid", "created_at"], name="ticket_grid_created"),
            # The 督办 tab: few tickets are ever supervised; without it the count walks every
            # open ticket of a wide scope.
            models.Index(fields=["state"], condition=Q(supervised=True), name="ticket_supervised"),
            # The 超期 lists (stats dashboards): open tickets past the resolution deadline, and
            # waiting ones past the acceptance deadline, without reading every open ticket.
            models.Index(
                fields=["resolve_due", "id"],
                condition=Q(state__in=OPEN_STATES),
                name="ticket_open_resolve_due",
            ),
            # A node's open tickets (the dashboards' 超期 and 督办 lists): the path indexes above
            # hold every ticket ever received, and PostgreSQL read a street's whole range of them
            # before checking the state (8,000 pages, 24 ms a query at 10 M tickets). Open
            # tickets are a small, steady share; these hold only them.
            models.Index(
                fields=["grid_path", "state"],
                condition=Q(state__in=OPEN_STATES),
                name="ticket_open_grid_path",
            ),
            models.Index(
                fields=["owner_path", "state"],
                condition=Q(state__in=OPEN_STATES),
                name="ticket_open_owner_path",
            ),
            models.Index(
                fields=["accept_due"],
                condition=Q(
                    state__in=[State.TRIAGE, State.ASSIGNED, State.CALLED_UP, State.DISPATCHED]
                ),
                name="ticket_waiting_accept_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="ticket_number_unique"),
            models.UniqueConstraint(fields=["public_token"], name="ticket_public_token_unique"),
            models.CheckConstraint(condition=Q(state__in=State.values), name="ticket_state_valid"),
            models.CheckConstraint(condition=Q(level__in=Level.values), name="ticket_level_valid"),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="ticket_channel_valid"
            ),
            models.UniqueConstraint(
                fields=["channel", "external_ref"],
                condition=~Q(external_ref=""),
                name="ticket_external_ref_unique",
            ),
            models.UniqueConstraint(
                fields=["idempotency_scope", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="ticket_idempotency_unique",
            ),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | Q(state=State.MERGED),
                name="ticket_merged_has_state",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        """Staff see tickets located or owned in their subtree, departments what is assigned to
        them, a resident (a user without staff posts) what they reported."""
        q = subtree_q("grid_path", scope.own_region_paths) | subtree_q(
            "owner_path", scope.own_region_paths
        )
        if scope.department_ids:
            q |= Q(
                pk__in=TicketAssignment.objects.filter(
                    department_id__in=scope.department_ids
                ).values("ticket_id")
            )
        if scope.user_id is not None and not (scope.own_region_paths or scope.department_ids):
            # A resident's own reports. Staff posts see tickets by place: adding this term to
            # theirs would stop the database combining the two path indexes (see benchmarks).
            q |= Q(reporter_id=scope.user_id)
        return q

    @property
    def is_open(self) -> bool:
        from jiayuan.tickets.choices import OPEN_STATES

        return self.state in OPEN_STATES


class TicketEvent(models.Model):
    """流转记录: one step of a ticket's life. Append-only and hash-chained: ``hash`` covers this
    event's content and the previous event's hash, so any edit or deletion breaks the chain."""

    # ticketevent_seq_unique (ticket, seq) serves lookups by ticket: no index of its own.
    ticket = models.ForeignKey(
        Ticket, verbose_name="工单", on_delete=models.PROTECT, related_name="events", db_index=False
    )
    seq = models.PositiveIntegerField("序号")
    at = models.DateTimeField("时间", default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    post = models.ForeignKey(
        "staff.Post",
        verbose_name="岗位",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    actor_label = models.CharField("操作人身份", max_length=60, blank=True)
    action = models.CharField("动作", max_length=24)
    from_state = models.CharField("原状态", max_length=12, blank=True)
    to_state = models.CharField("新状态", max_length=12)
    from_level = models.CharField("原层级", max_length=12, blank=True)
    to_level = models.CharField("新层级", max_length=12, blank=True)
    from_region = models.ForeignKey(
        "regions.Region",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    to_region = models.ForeignKey(
        "regions.Region",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    department = models.ForeignKey(
        "staff.Department",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    note = models.TextField("说明", blank=True)
    data = models.JSONField("数据", default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = "流转记录"
        verbose_name_plural = verbose_name
        ordering = ["ticket_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "seq"], name="ticketevent_seq_unique")
        ]
        indexes = [
            # Today's resolutions (the big screen). Partial: a fifth of the events, and no sort of
            # the action's text (the database's C.UTF-8 collation compares it by strcoll).
            models.Index(
                fields=["at"], condition=Q(action="resolve"), name="ticketevent_resolve_at"
            ),
            # The 被退回 tab: returns to a region, without walking every return of the history.
            models.Index(
                fields=["to_region"], condition=Q(action="return"), name="ticketevent_returns"
            ),
            # The references, for deleting a user, post, region or department (the only reads
            # by them): most events name none of some of them, so only rows that do are indexed.
            *(
                models.Index(
                    fields=[name],
                    condition=Q(**{f"{name}__isnull": False}),
                    name=f"ticketevent_{name}",
                )
                for name in ("actor", "post", "from_region", "to_region", "department")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}#{self.seq} {self.action}"


class TicketAssignment(models.Model):
    """派单: one department's part in a ticket, as 主办 (lead) or 协办 (co-handler)."""

    # assignment_unique (ticket, department) serves lookups by ticket: no index of its own.
    ticket = models.ForeignKey(
        Ticket,
        verbose_name="工单",
        on_delete=models.CASCADE,
        related_name="assignments",
        db_index=False,
    )
    department = models.ForeignKey(
        "staff.Department",
        verbose_name="部门",
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    role = models.CharField("角色", max_length=8, choices=AssignmentRole.choices)
    state = models.CharField(
        "状态", max_length=10, choices=AssignmentState.choices, default=AssignmentState.PENDING
    )
    dispatched_from = models.ForeignKey(
        "regions.Region", verbose_name="派单单位", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.TextField("反馈", blank=True)

    class Meta:
        verbose_name = "部门派单"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(fields=["ticket", "department"], name="assignment_unique"),
            models.UniqueConstraint(
                fields=["ticket"],
                condition=Q(role="lead") & ~Q(state="returned"),
                name="assignment_one_live_lead",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} {self.get_role_display()}"


class Attachment(models.Model):
    """A photo or file of a ticket (report photos, result photos). EXIF is stripped on upload."""

    ticket = models.ForeignKey(
        Ticket, verbose_name="工单", on_delete=models.CASCADE, related_name="attachments"
    )
    event_seq = models.PositiveIntegerField("所属流转序号", null=True, blank=True)
    file = models.FileField("文件", upload_to="tickets/%Y/%m/")
    content_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "附件"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return self.file.name


class SlaPolicy(models.Model):
    """时限规则: deadlines for a category × region, resolved up both trees (most specific region
    first, then the category, its parent, any). The default row is the seeds' "123" rule."""

    class AutoAction(models.TextChoices):
        NONE = "none", "仅预警"
        CALL_UP = "call_up", "超期自动呼叫上级"
        SUPERVISE = "supervise", "超期自动督办"

    name = models.CharField("名称", max_length=60)
    region = models.ForeignKey(
        "regions.Region",
        verbose_name="适用区划（空=全部）",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sla_policies",
    )
    category = models.ForeignKey(
        Category,
        verbose_name="适用分类（空=全部）",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sla_policies",
    )
    in_hours = models.BooleanField("按小时计（紧急类）", default=False)
    accept_within = models.PositiveSmallIntegerField("签收时限", default=1)
    resolve_within = models.PositiveSmallIntegerField("办结时限", default=2)
    feedback_within = models.PositiveSmallIntegerField("反馈时限", default=3)
    warn_before_hours = models.PositiveSmallIntegerField("提前预警(小时)", default=4)
    auto_action = models.CharField(
        "超期处置", max_length=10, choices=AutoAction.choices, default=AutoAction.SUPERVISE
    )
    max_reopen = models.PositiveSmallIntegerField("最多重办次数", default=2)
    scope_key = models.CharField(max_length=40, unique=True, editable=False)

    class Meta:
        verbose_name = "时限规则"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # One policy per (region, category), NULLs included: a derived unique key does it on
        # every database (SQLite has no NULLS NOT DISTINCT).
        self.scope_key = f"{self.region_id or '*'}:{self.category_id or '*'}"
        super().save(*args, **kwargs)


class DailyCounter(models.Model):
    """The per-day sequence behind human-readable ticket numbers (J20261123000042)."""

    day = models.DateField(primary_key=True)
    value = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "编号计数"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return f"{self.day}: {self.value}"


class SubmissionState(models.TextChoices):
    PENDING = "pending", "待受理"
    DONE = "done", "已受理"
    FAILED = "failed", "未能受理"


class Submission(models.Model):
    """受理队列: a request accepted over a machine channel (Open311 with a queued key, the API with
    ``Prefer: respond-async``) and answered with a token at once; the worker turns it into a ticket
    with ``ticket_create`` moments later. ``payload`` holds the validated arguments; the receipt
    time is the ticket's submission time, so deadlines start when the resident sent it."""

    # Unique by a constraint (see Meta): ``unique=True`` would add a LIKE index on PostgreSQL.
    token = models.CharField("受理凭据", max_length=32, default=new_public_token)
    channel = models.CharField("来源渠道", max_length=10, choices=Channel.choices)
    payload = models.JSONField("提交内容")
    state = models.CharField(
        "状态", max_length=10, choices=SubmissionState.choices, default=SubmissionState.PENDING
    )
    ticket = models.ForeignKey(
        Ticket,
        verbose_name="工单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # submission_ticket (partial) serves it
    )
    error = models.CharField("未受理原因", max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="提交人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # submission_created_by (partial) serves it
    )
    idempotency_scope = models.CharField(max_length=60, blank=True, editable=False)
    idempotency_key = models.CharField(max_length=100, blank=True, editable=False)
    created_at = models.DateTimeField("接收时间", default=timezone.now)
    processed_at = models.DateTimeField("处理时间", null=True, blank=True)

    class Meta:
        verbose_name = "受理队列"
        verbose_name_plural = verbose_name
        # Every index is written by each queued accept (the hot path of a busy machine channel):
        # the references are indexed only where set (a new submission has no ticket yet, and an
        # Open311 one no account); they are read only when a ticket or user is deleted.
        indexes = [
            models.Index(fields=["state", "id"], name="submission_state"),
            models.Index(
                fields=["ticket"], condition=Q(ticket__isnull=False), name="submission_ticket"
            ),
            models.Index(
                fields=["created_by"],
                condition=Q(created_by__isnull=False),
                name="submission_created_by",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["token"], name="submission_token_unique"),
            models.CheckConstraint(
                condition=Q(state__in=SubmissionState.values), name="submission_state_valid"
            ),
            models.UniqueConstraint(
                fields=["idempotency_scope", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="submission_idempotency_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.token} {self.get_state_display()}"
