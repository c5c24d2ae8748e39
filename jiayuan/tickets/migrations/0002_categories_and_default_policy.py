"""Seed the category tree (the seven first-level labels of the real data, with second-level
categories under them) and the default SLA policies ("123" rule; urgent categories in hours)."""

from django.db import migrations

TREE = [
    ("urban", "城乡建设", [
        ("property", "物业管理", False), ("housing_safety", "房屋安全", False),
        ("municipal", "市政设施", False), ("illegal_building", "违章建筑", False),
        ("water_supply", "供水停水", True), ("gas_leak", "燃气安全", True),
        ("heating", "供暖", False), ("power_supply", "供电停电", True),
    ]),
    ("environment", "环境保护", [
        ("noise", "噪音扰民", False), ("garbage", "垃圾清运", False),
        ("sewage", "污水排放", False), ("air", "大气污染", False),
    ]),
    ("transport", "交通运输", [
        ("road", "道路交通", False), ("bus", "公交出行", False), ("parking", "停车管理", False),
    ]),
    ("education", "教育文体", [
        ("enrolment", "入学入园", False), ("culture_sport", "文体设施", False),
        ("training", "培训机构", False),
    ]),
    ("labour", "劳动和社会保障", [
        ("wage_arrears", "欠薪维权", False), ("social_insurance", "社保医保", False),
        ("employment", "就业创业", False), ("elderly_care", "养老服务", False),
    ]),
    ("commerce", "商贸旅游", [
        ("consumer", "消费维权", False), ("market_order", "市场秩序", False),
        ("tourism", "旅游服务", False),
    ]),
    ("health", "卫生计生", [
        ("medical", "医疗服务", False), ("public_health", "公共卫生", False),
        ("food_safety", "食品安全", True),
    ]),
    ("community", "社区事务", [
        ("neighbour_dispute", "邻里纠纷", False), ("community_service", "社区服务", False),
        ("public_security", "治安隐患", True),
    ]),
]


def seed(apps, schema_editor):
    Category = apps.get_model("tickets", "Category")
    SlaPolicy = apps.get_model("tickets", "SlaPolicy")
    for i, (code, name, children) in enumerate(TREE):
        parent, _ = Category.objects.update_or_create(
            code=code, defaults={"name": name, "sort": i * 100, "parent": None}
        )
        for j, (child_code, child_name, urgent) in enumerate(children):
            child, _ = Category.objects.update_or_create(
                code=child_code,
                defaults={"name": child_name, "parent": parent, "urgent": urgent,
                          "sort": i * 100 + j + 1},
            )
            if urgent:
                SlaPolicy.objects.update_or_create(
                    scope_key=f"*:{child.pk}",
                    defaults={"name": f"{child_name}（紧急，按小时）", "category": child,
                              "in_hours": True, "accept_within": 1, "resolve_within": 24,
                              "feedback_within": 48, "warn_before_hours": 1,
                              "auto_action": "call_up", "max_reopen": 2},
                )
    SlaPolicy.objects.update_or_create(
        scope_key="*:*",
        defaults={"name": "默认“123”规则：1个工作日签收、2个工作日办结、3个工作日反馈",
                  "accept_within": 1, "resolve_within": 2, "feedback_within": 3,
                  "warn_before_hours": 4, "auto_action": "supervise", "max_reopen": 2},
    )


def unseed(apps, schema_editor):
    apps.get_model("tickets", "SlaPolicy").objects.all().delete()
    Category = apps.get_model("tickets", "Category")
    Category.objects.filter(parent__isnull=False).delete()
    Category.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
