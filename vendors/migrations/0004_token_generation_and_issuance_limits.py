from django.db import migrations, models

TOKENS_PER_HOUR = {"free": 100, "standard": 1_000, "enterprise": 10_000}


def seed(apps, schema_editor):
    Plan = apps.get_model("vendors", "Plan")
    for code, per_hour in TOKENS_PER_HOUR.items():
        Plan.objects.filter(code=code).update(tokens_per_hour=per_hour)


class Migration(migrations.Migration):
    dependencies = [("vendors", "0003_usageday")]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="tokens_per_hour",
            field=models.PositiveIntegerField(
                blank=True,
                default=100,
                help_text="Access tokens a vendor may obtain per clock hour (token and refresh requests). Empty means "
                "unlimited.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="vendor",
            name="token_generation",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
