"""Roles of DESIGN §1."""

from django.db import models


class Role(models.TextChoices):
    RESIDENT = "resident", "居民"
    GRID_WORKER = "grid_worker", "网格员"
    BUILDING_LEADER = "building_leader", "楼栋长"
    COMMUNITY_WORKER = "community_worker", "社区工作者"
    COMMUNITY_SECRETARY = "community_secretary", "社区书记"
    STREET_OFFICER = "street_officer", "街道干部"
    DEPARTMENT_OFFICER = "department_officer", "职能部门人员"
    COMMAND_CENTER = "command_center", "指挥中心"
    PROPERTY_MANAGER = "property_manager", "物业"
    ADMIN = "admin", "管理员"


# Roles whose post sits at a department rather than a region node.
DEPARTMENT_ROLES = {Role.DEPARTMENT_OFFICER}
# Roles a post may hold only at a given level of the tree (None: any level).
ROLE_LEVELS: dict[str, set[str] | None] = {
    Role.RESIDENT: {"grid", "micro_grid"},
    Role.GRID_WORKER: {"grid", "micro_grid"},
    Role.BUILDING_LEADER: {"grid", "micro_grid"},
    Role.COMMUNITY_WORKER: {"community"},
    Role.COMMUNITY_SECRETARY: {"community"},
    Role.STREET_OFFICER: {"street"},
    Role.COMMAND_CENTER: {"city", "district"},
    Role.PROPERTY_MANAGER: {"community", "grid"},
    Role.ADMIN: None,
}
