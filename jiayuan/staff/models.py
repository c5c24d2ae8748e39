"""Departments (职能部门) and posts (岗位): who works where, with which role."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from jiayuan.core.scoping import Scope, ScopedManager, subtree_q
from jiayuan.staff.choices import Role


class Department(models.Model):
    """职能部门: a body a request can be dispatched to, serving one or more region subtrees."""

    code = models.SlugField("编码", max_length=40, unique=True)
    name = models.CharField("名称", max_length=100)
    short_name = models.CharField("简称", max_length=20)
    region = models.ForeignKey(
        "regions.Region",
        verbose_name="所属区划",
        on_delete=models.PROTECT,
        related_name="departments",
    )
    serves = models.ManyToManyField(
        "regions.Region", verbose_name="服务区域", related_name="served_by", blank=True
    )
    phone = models.CharField("办公电话", max_length=30, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = "职能部门"
        verbose_name_plural = verbose_name
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["region", "name"], name="department_name_per_region")
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        # A department is visible to its own officers and to posts above the region it sits at.
        return Q(pk__in=scope.department_ids) | subtree_q("region__path", scope.region_paths)


class Post(models.Model):
    """岗位: one role of one user at one region node, or at one department.

    ``can_view_personal`` is the right to see ID and phone numbers unmasked (every such view is
    logged); it is granted per post, not per role, because only some posts need it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="用户",
        on_delete=models.CASCADE,
        related_name="posts",
    )
    role = models.CharField("角色", max_length=24, choices=Role.choices)
    region = models.ForeignKey(
        "regions.Region",
        verbose_name="所在区划/网格",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="posts",
    )
    department = models.ForeignKey(
        Department,
        verbose_name="所在部门",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="posts",
    )
    title = models.CharField("职务", max_length=50, blank=True)
    work_phone = models.CharField("工作电话(公开)", max_length=20, blank=True)
    can_view_personal = models.BooleanField("可查看完整个人信息", default=False)
    is_active = models.BooleanField("在岗", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = "岗位"
        verbose_name_plural = verbose_name
        ordering = ["user_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="post_role_valid"),
            models.CheckConstraint(
                condition=(
                    Q(role=Role.DEPARTMENT_OFFICER, department__isnull=False, region__isnull=True)
                    | (
                        ~Q(role=Role.DEPARTMENT_OFFICER)
                        & Q(department__isnull=True, region__isnull=False)
                    )
                ),
                name="post_at_region_or_department",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "region"],
                condition=Q(region__isnull=False),
                name="post_unique_at_region",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "department"],
                condition=Q(department__isnull=False),
                name="post_unique_at_department",
            ),
        ]

    def __str__(self) -> str:
        place = self.department or self.region
        return f"{place} · {self.get_role_display()}"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("region__path", scope.region_paths) | Q(
            department_id__in=scope.department_ids
        )
