"""The default automatic-routing threshold (自动派单阈值), editable in admin afterwards.

0.86 is the lowest threshold whose automatically routed share was ≥ 98% accurate on the
out-of-fold predictions of the training part (docs/routing.md)."""

from django.db import migrations

DEFAULT_THRESHOLD = 0.86


def seed(apps, schema_editor):
    RoutingThreshold = apps.get_model("routing", "RoutingThreshold")
    if not RoutingThreshold.objects.filter(category__isnull=True).exists():
        RoutingThreshold.objects.create(
            category=None,
            threshold=DEFAULT_THRESHOLD,
            note="默认阈值：训练集五折交叉验证中自动派单准确率达到 98% 的最低阈值",
        )


def unseed(apps, schema_editor):
    apps.get_model("routing", "RoutingThreshold").objects.filter(category__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("routing", "0002_routingfeedback_routingthreshold")]

    operations = [migrations.RunPython(seed, unseed)]
