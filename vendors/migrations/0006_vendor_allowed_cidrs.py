from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("vendors", "0005_portal_reveals_unique_names_last_used")]

    operations = [
        # With a database default, so that the code still running while this migrates (expand, then contract) can
        # insert vendors without naming the column; empty means any address, as before.
        migrations.AddField(
            model_name="vendor",
            name="allowed_cidrs",
            field=models.JSONField(
                blank=True,
                db_default=models.Value([], output_field=models.JSONField()),
                default=list,
                editable=False,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("create", "Vendor created"),
                    ("rotate_secret", "Secret rotated"),
                    ("suspend", "Vendor suspended"),
                    ("reactivate", "Vendor reactivated"),
                    ("change_plan", "Plan changed"),
                    ("revoke_tokens", "Tokens revoked"),
                    ("update", "Vendor details changed"),
                    ("create_plan", "Plan created"),
                    ("edit_plan", "Plan edited"),
                    ("change_allow_list", "Allow-list changed"),
                ],
                db_index=True,
                max_length=32,
            ),
        ),
    ]
