"""Choices of the request pipeline (下呼上应). Stable English values, Chinese labels."""

from django.db import models


class Channel(models.TextChoices):
    QR = "qr", "楼栋二维码"
    WEB = "web", "网页/小程序"
    OPEN311 = "open311", "Open311 接口"
    API = "api", "开放接口"
    HOTLINE = "hotline", "12345 热线"
    PATROL = "patrol", "网格员巡查"
    MAILBOX = "mailbox", "党支部信箱"


class State(models.TextChoices):
    """Where a ticket stands. Only ``workflow.transition`` writes it."""

    TRIAGE = "triage", "待分拨"
    ASSIGNED = "assigned", "待签收"
    IN_PROGRESS = "in_progress", "办理中"
    CALLED_UP = "called_up", "待响应"
    DISPATCHED = "dispatched", "部门办理中"
    RESOLVED = "resolved", "已办结待评价"
    CLOSED = "closed", "已评价"
    ARCHIVED = "archived", "已归档"
    CANCELLED = "cancelled", "已撤销"
    MERGED = "merged", "已合并"


OPEN_STATES = [State.TRIAGE, State.ASSIGNED, State.IN_PROGRESS, State.CALLED_UP, State.DISPATCHED]
FINAL_STATES = [State.ARCHIVED, State.CANCELLED, State.MERGED]


class Level(models.TextChoices):
    """The rung of the ladder a ticket stands on (呼叫/响应 move it up)."""

    GRID = "grid", "网格"
    COMMUNITY = "community", "社区"
    STREET = "street", "街道"
    DISTRICT = "district", "区指挥中心"
    DEPARTMENT = "department", "职能部门"


LADDER = [Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT]


class Urgency(models.TextChoices):
    NORMAL = "normal", "一般"
    URGENT = "urgent", "紧急"


class Rating(models.TextChoices):
    SATISFIED = "satisfied", "满意"
    BASIC = "basic", "基本满意"
    UNSATISFIED = "unsatisfied", "不满意"


class AssignmentRole(models.TextChoices):
    LEAD = "lead", "主办"
    CO = "co", "协办"


class AssignmentState(models.TextChoices):
    PENDING = "pending", "待签收"
    ACCEPTED = "accepted", "办理中"
    FINISHED = "finished", "已反馈"
    RETURNED = "returned", "已回退"
