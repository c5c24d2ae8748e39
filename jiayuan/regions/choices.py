"""Choices of the base data. Stable English values, Chinese labels."""

from django.db import models


class Level(models.TextChoices):
    """One level of the region tree (行政区划/网格)."""

    CITY = "city", "市"
    DISTRICT = "district", "区（市）"
    STREET = "street", "街道（乡镇）"
    COMMUNITY = "community", "社区（村）"
    GRID = "grid", "网格"
    MICRO_GRID = "micro_grid", "微网格"


LEVEL_ORDER = [
    Level.CITY,
    Level.DISTRICT,
    Level.STREET,
    Level.COMMUNITY,
    Level.GRID,
    Level.MICRO_GRID,
]
PARENT_LEVEL = {child: LEVEL_ORDER[i] for i, child in enumerate(LEVEL_ORDER[1:])}


class GridKind(models.TextChoices):
    """What a grid covers: a residential grid, or a 专属网格 of one kind of unit."""

    RESIDENTIAL = "residential", "综合网格"
    ENTERPRISE = "enterprise", "专属网格·企业"
    MARKET = "market", "专属网格·商圈市场"
    SCHOOL = "school", "专属网格·学校"
    HOSPITAL = "hospital", "专属网格·医院"
    PARK = "park", "专属网格·园区"


class RentalStatus(models.TextChoices):
    OWNER = "owner", "自住"
    RENTED = "rented", "出租"
    VACANT = "vacant", "空置"
    OTHER = "other", "其他"


class Gender(models.TextChoices):
    MALE = "M", "男"
    FEMALE = "F", "女"


class Relation(models.TextChoices):
    HEAD = "head", "户主"
    SPOUSE = "spouse", "配偶"
    CHILD = "child", "子女"
    PARENT = "parent", "父母"
    GRANDCHILD = "grandchild", "孙辈"
    TENANT = "tenant", "租户"
    OTHER = "other", "其他"
