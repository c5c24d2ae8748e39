"""Seed the care-tag types (特殊人群标签) named in the seeds; they stay editable in admin."""

from django.db import migrations

TYPES = [
    ("dibao", "低保", "最低生活保障对象", 30),
    ("tekun", "特困", "特困供养人员", 30),
    ("alone_elderly", "独居老人", "独居或空巢老人", 7),
    ("elderly_80", "高龄", "80周岁以上老人", 30),
    ("disabled", "残疾", "持证残疾人", 30),
    ("veteran", "优抚对象", "退役军人及其他优抚对象", 90),
    ("left_behind_child", "留守儿童", "父母均外出务工的未成年人", 30),
    ("key_attention", "重点关注", "需重点关注的人员（矛盾纠纷、心理等）", 7),
    ("serious_illness", "大病", "重大疾病患者家庭", 30),
    ("unemployed", "失业", "登记失业人员", 90),
]


def add_types(apps, schema_editor):
    CareTagType = apps.get_model("regions", "CareTagType")
    for sort, (code, name, description, days) in enumerate(TYPES):
        CareTagType.objects.update_or_create(
            code=code,
            defaults={"name": name, "description": description, "visit_interval_days": days,
                      "sort": sort},
        )


def remove_types(apps, schema_editor):
    CareTagType = apps.get_model("regions", "CareTagType")
    CareTagType.objects.filter(code__in=[t[0] for t in TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("regions", "0001_initial")]
    operations = [migrations.RunPython(add_types, remove_types)]
