from django.db import migrations

PLANS = [
    # code, name, brands, campaigns, tools, per minute, per month (None: unlimited)
    ("free", "Free", True, False, False, 60, 10_000),
    ("standard", "Standard", True, True, False, 600, 1_000_000),
    ("enterprise", "Enterprise", True, True, True, 6_000, None),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("vendors", "Plan")
    for code, name, brands, campaigns, tools, per_minute, per_month in PLANS:
        Plan.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "includes_brands": brands,
                "includes_campaigns": campaigns,
                "includes_tools": tools,
                "requests_per_minute": per_minute,
                "monthly_quota": per_month,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("vendors", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
