"""Where a threshold row came from: set by a person in admin (the default, and every existing
row) or learned per category by ``route train`` (which replaces only learned rows)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0004_default_threshold_083"),
    ]

    operations = [
        migrations.AddField(
            model_name="routingthreshold",
            name="source",
            field=models.CharField(
                choices=[("admin", "人工设置"), ("learned", "训练生成")],
                default="admin",
                max_length=10,
                verbose_name="来源",
            ),
        ),
    ]
