"""Base data (人·房): the region tree down to micro-grids, estates, buildings, households,
residents.

Rows under a grid (buildings, households, residents) carry their grid as a foreign key so the
scoping gate filters them with one indexed join on ``Region.path``.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from jiayuan.core.scoping import PATH_SEP, Scope, ScopedManager, subtree_q
from jiayuan.regions.choices import Gender, GridKind, Level, Relation, RentalStatus


def new_qr_token() -> str:
    return secrets.token_urlsafe(12)


class Region(models.Model):
    """One node of the tree 市 → 区 → 街道 → 社区 → 网格 → 微网格.

    ``code`` is the unified code (统一编号): China's 12-digit statistical division code for the
    upper four levels; a grid extends its community's code by 3 digits, a micro-grid its grid's
    by 2. ``path`` is the materialized path of codes from the root ("3706….3706…"), indexed, so a
    subtree is one range scan. ``boundary`` is a GeoJSON geometry (Polygon / MultiPolygon).
    """

    code = models.CharField("统一编码", max_length=20, unique=True)
    name = models.CharField("名称", max_length=100)
    level = models.CharField("层级", max_length=12, choices=Level.choices)
    kind = models.CharField(
        "网格类型", max_length=12, choices=GridKind.choices, blank=True, default=""
    )
    parent = models.ForeignKey(
        "self",
        verbose_name="上级",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField("路径", max_length=255, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField("深度", editable=False, default=0)
    cluster = models.ForeignKey(
        "Cluster",
        verbose_name="片区",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="communities",
    )
    boundary = models.JSONField("边界(GeoJSON)", null=True, blank=True)
    center_lng = models.FloatField("中心经度", null=True, blank=True)
    center_lat = models.FloatField("中心纬度", null=True, blank=True)
    household_count = models.PositiveIntegerField("户数", default=0)

    objects = ScopedManager()

    class Meta:
        verbose_name = "区划/网格"
        verbose_name_plural = verbose_name
        ordering = ["path"]
        indexes = [models.Index(fields=["level", "path"], name="region_level_path")]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=Level.values), name="region_level_valid"),
            models.CheckConstraint(
                condition=Q(parent__isnull=True, level=Level.CITY) | Q(parent__isnull=False),
                name="region_root_is_city",
            ),
            models.CheckConstraint(
                condition=Q(kind="") | Q(level__in=[Level.GRID, Level.MICRO_GRID]),
                name="region_kind_only_for_grids",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The path is derived data kept with the row. A node with children keeps its place:
        # moving it would leave its descendants' paths stale.
        self.path = self.compute_path()
        self.depth = self.path.count(PATH_SEP)
        if self.pk and self.children.exists():
            old = Region.objects.filter(pk=self.pk).values_list("path", flat=True).first()
            if old is not None and old != self.path:
                from jiayuan.core.errors import JiayuanError

                raise JiayuanError("有下级的区划不能改变上级或编码", code="region_has_children")
        super().save(*args, **kwargs)

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("path", scope.region_paths)

    def compute_path(self) -> str:
        if self.parent_id is None:
            return self.code
        parent = self.parent
        assert parent is not None
        return parent.path + PATH_SEP + self.code

    def subtree(self) -> models.QuerySet[Region]:
        return Region.objects.filter(subtree_q("path", [self.path]))

    def ancestor_codes(self) -> list[str]:
        return self.path.split(PATH_SEP)

    def ancestors(self) -> list[Region]:
        codes = self.ancestor_codes()[:-1]
        by_code = {r.code: r for r in Region.objects.filter(code__in=codes)}
        return [by_code[c] for c in codes if c in by_code]

    @property
    def is_grid(self) -> bool:
        return self.level in (Level.GRID, Level.MICRO_GRID)


class Cluster(models.Model):
    """跨社连片工作区 / 片区: neighbouring communities of one street run together."""

    code = models.CharField("编码", max_length=20, unique=True)
    name = models.CharField("名称", max_length=100)
    street = models.ForeignKey(
        Region,
        verbose_name="街道",
        on_delete=models.PROTECT,
        related_name="clusters",
        limit_choices_to={"level": Level.STREET},
    )

    objects = ScopedManager()

    class Meta:
        verbose_name = "连片工作区"
        verbose_name_plural = verbose_name
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("street__path", scope.region_paths)


class Estate(models.Model):
    """小区: a residential compound in a community; may span grids."""

    code = models.CharField("编码", max_length=24, unique=True)
    name = models.CharField("名称", max_length=100)
    community = models.ForeignKey(
        Region,
        verbose_name="社区",
        on_delete=models.PROTECT,
        related_name="estates",
        limit_choices_to={"level": Level.COMMUNITY},
    )
    address = models.CharField("地址", max_length=200, blank=True)
    property_company = models.CharField("物业公司", max_length=100, blank=True)
    built_year = models.PositiveSmallIntegerField("建成年份", null=True, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = "小区"
        verbose_name_plural = verbose_name
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["community", "name"], name="estate_name_per_community")
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        # An estate is visible to whoever sees its community or any grid inside it.
        q = subtree_q("community__path", scope.region_paths)
        grid_paths = [p for p in scope.region_paths if p.count(PATH_SEP) > 3]
        if grid_paths:
            q |= Q(
                pk__in=Building.objects.filter(subtree_q("grid__path", grid_paths)).values(
                    "estate_id"
                )
            )
        return q


class Building(models.Model):
    """楼栋: one building, in one grid, with the QR token printed on its board (一牌四公开)."""

    code = models.CharField("楼栋编码", max_length=24, unique=True)
    name = models.CharField("楼栋名称", max_length=100)
    estate = models.ForeignKey(
        Estate,
        verbose_name="小区",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="buildings",
    )
    grid = models.ForeignKey(
        Region,
        verbose_name="网格",
        on_delete=models.PROTECT,
        related_name="buildings",
    )
    micro_grid = models.ForeignKey(
        Region,
        verbose_name="微网格",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="micro_buildings",
    )
    address = models.CharField("地址", max_length=200)
    lng = models.FloatField("经度", null=True, blank=True)
    lat = models.FloatField("纬度", null=True, blank=True)
    floors = models.PositiveSmallIntegerField("层数", null=True, blank=True)
    qr_token = models.CharField(
        "二维码标识", max_length=32, unique=True, default=new_qr_token, editable=False
    )

    objects = ScopedManager()

    class Meta:
        verbose_name = "楼栋"
        verbose_name_plural = verbose_name
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(lng__isnull=True) | Q(lng__gte=-180, lng__lte=180),
                name="building_lng_range",
            ),
            models.CheckConstraint(
                condition=Q(lat__isnull=True) | Q(lat__gte=-90, lat__lte=90),
                name="building_lat_range",
            ),
        ]

    def __str__(self) -> str:
        return self.address or self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("grid__path", scope.region_paths)


class Unit(models.Model):
    """单元: a stairwell of a building."""

    building = models.ForeignKey(
        Building, verbose_name="楼栋", on_delete=models.CASCADE, related_name="units"
    )
    number = models.CharField("单元号", max_length=20)

    objects = ScopedManager()

    class Meta:
        verbose_name = "单元"
        verbose_name_plural = verbose_name
        ordering = ["building_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["building", "number"], name="unit_number_per_building")
        ]

    def __str__(self) -> str:
        return f"{self.building.name}{self.number}单元"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("building__grid__path", scope.region_paths)


class Household(models.Model):
    """户: one dwelling (room) and who lives there. ``grid`` repeats the building's grid."""

    code = models.CharField("户编码", max_length=32, unique=True)
    building = models.ForeignKey(
        Building, verbose_name="楼栋", on_delete=models.PROTECT, related_name="households"
    )
    unit = models.ForeignKey(
        Unit, verbose_name="单元", on_delete=models.PROTECT, related_name="households"
    )
    room = models.CharField("房号", max_length=20)
    grid = models.ForeignKey(
        Region, verbose_name="网格", on_delete=models.PROTECT, related_name="households"
    )
    head_name = models.CharField("户主姓名", max_length=50, blank=True)
    rental_status = models.CharField(
        "居住状态", max_length=10, choices=RentalStatus.choices, default=RentalStatus.OWNER
    )
    party_member_center = models.BooleanField("党员中心户", default=False)
    area_m2 = models.DecimalField("面积(㎡)", max_digits=7, decimal_places=2, null=True, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = "户"
        verbose_name_plural = verbose_name
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "room"], name="household_room_unique"),
            models.CheckConstraint(
                condition=Q(rental_status__in=RentalStatus.values), name="household_rental_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.building.name}{self.unit.number}单元{self.room}"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("grid__path", scope.region_paths) | Q(pk__in=scope.household_ids)


class CareTagType(models.Model):
    """特殊人群标签的类型 (低保, 独居老人 …): data, editable in admin. Sensitive by default."""

    code = models.SlugField("编码", max_length=30, unique=True)
    name = models.CharField("名称", max_length=30, unique=True)
    description = models.CharField("说明", max_length=200, blank=True)
    visit_interval_days = models.PositiveSmallIntegerField(
        "走访周期(天)", null=True, blank=True, help_text="六必访: 此类人群多少天内必须走访一次"
    )
    sensitive = models.BooleanField("敏感", default=True)
    sort = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = "特殊人群类型"
        verbose_name_plural = verbose_name
        ordering = ["sort", "code"]

    def __str__(self) -> str:
        return self.name


class Resident(models.Model):
    """居民. ``id_number`` and ``phone`` are personal data: masked unless the post may see them."""

    household = models.ForeignKey(
        Household, verbose_name="户", on_delete=models.PROTECT, related_name="residents"
    )
    grid = models.ForeignKey(
        Region, verbose_name="网格", on_delete=models.PROTECT, related_name="residents"
    )
    name = models.CharField("姓名", max_length=50, db_index=True)
    id_number = models.CharField("身份证号", max_length=18, null=True, blank=True, unique=True)
    phone = models.CharField("联系电话", max_length=20, blank=True)
    gender = models.CharField("性别", max_length=1, choices=Gender.choices, blank=True)
    birth_date = models.DateField("出生日期", null=True, blank=True)
    relation = models.CharField(
        "与户主关系", max_length=12, choices=Relation.choices, default=Relation.HEAD
    )
    is_party_member = models.BooleanField("党员", default=False)
    is_building_leader = models.BooleanField("楼栋长", default=False)
    care_tags = models.ManyToManyField(
        CareTagType, verbose_name="特殊人群标签", blank=True, related_name="residents"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name="居民账号",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resident",
    )
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = "居民"
        verbose_name_plural = verbose_name
        ordering = ["id"]
        indexes = [models.Index(fields=["grid", "id"], name="resident_grid_id")]
        constraints = [
            models.CheckConstraint(
                condition=Q(gender__in=["", *Gender.values]), name="resident_gender_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("grid__path", scope.region_paths) | Q(household_id__in=scope.household_ids)
