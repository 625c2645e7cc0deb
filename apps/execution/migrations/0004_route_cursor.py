from django.db import migrations, models


def unit_types_pull(apps, schema_editor):
    """Until units were routed, every unit type's work went to whichever unit claimed first,
    whatever strategy its policy named (the staff default, least_loaded, written down for
    every new type). Keep that behaviour: those types now say `pull`, which is what they did.
    A unit type that named another strategy on purpose keeps it, and is routed by it."""
    policy = apps.get_model("assignment", "AssignmentPolicy")
    policy.objects.filter(task_type__assignee_kind="unit", strategy="least_loaded").update(
        strategy="pull")


def unit_types_least_loaded(apps, schema_editor):
    policy = apps.get_model("assignment", "AssignmentPolicy")
    policy.objects.filter(task_type__assignee_kind="unit", strategy="pull").update(
        strategy="least_loaded")


class Migration(migrations.Migration):

    dependencies = [
        ("execution", "0003_accepted_unit_types"),
        ("assignment", "0003_assignment_policy"),
    ]

    operations = [
        migrations.AddField(
            model_name="unitqueue",
            name="route_cursor",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(unit_types_pull, unit_types_least_loaded),
    ]
