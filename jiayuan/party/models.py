"""Party organisations (党组织): 社区党委 → 网格党支部 → 楼栋党小组, bound to regions."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from jiayuan.core.scoping import Scope, ScopedManager, subtree_q


class OrgKind(models.TextChoices):
    STREET_WORKING_COMMITTEE = "street_committee", "街道党工委"
    COMMUNITY_COMMITTEE = "community_committee", "社区党委"
    GRID_BRANCH = "grid_branch", "网格党支部"
    BUILDING_GROUP = "building_group", "楼栋党小组"


PARENT_KIND = {
    OrgKind.COMMUNITY_COMMITTEE: OrgKind.STREET_WORKING_COMMITTEE,
    OrgKind.GRID_BRANCH: OrgKind.COMMUNITY_COMMITTEE,
    OrgKind.BUILDING_GROUP: OrgKind.GRID_BRANCH,
}


class PartyOrg(models.Model):
    """One party organisation, at one region node (and, for a 楼栋党小组, one building)."""

    code = models.CharField("编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=100)
    kind = models.CharField("类型", max_length=24, choices=OrgKind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name="上级党组织",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    region = models.ForeignKey(
        "regions.Region",
        verbose_name="所在区划/网格",
        on_delete=models.PROTECT,
        related_name="party_orgs",
    )
    building = models.ForeignKey(
        "regions.Building",
        verbose_name="楼栋",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="party_groups",
    )
    secretary_name = models.CharField("书记/组长", max_length=50, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = "党组织"
        verbose_name_plural = verbose_name
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=OrgKind.values), name="partyorg_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind=OrgKind.STREET_WORKING_COMMITTEE) | Q(parent__isnull=False),
                name="partyorg_has_parent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("region__path", scope.region_paths)


class PartyMembership(models.Model):
    """A party member's organisational relation (组织关系) or registration (报到) with an org."""

    class Kind(models.TextChoices):
        FORMAL = "formal", "组织关系在册"
        REGISTERED = "registered", "在职党员报到"

    org = models.ForeignKey(
        PartyOrg, verbose_name="党组织", on_delete=models.CASCADE, related_name="memberships"
    )
    resident = models.ForeignKey(
        "regions.Resident",
        verbose_name="党员",
        on_delete=models.CASCADE,
        related_name="party_memberships",
    )
    kind = models.CharField("类型", max_length=12, choices=Kind.choices, default=Kind.FORMAL)
    role = models.CharField("职务", max_length=30, blank=True)
    joined_on = models.DateField("加入日期", null=True, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = "党员"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(fields=["org", "resident"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.resident} @ {self.org}"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return subtree_q("org__region__path", scope.region_paths)
