from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q


def mark_current_exclusions(apps, schema_editor):
    """Carry the exclusions the old rule derived over, but only those of the task's current
    attempt: a record followed by a retry of its task no longer excludes anyone."""
    Assignment = apps.get_model("assignment", "Assignment")
    TaskHistory = apps.get_model("tasks", "TaskHistory")
    retried_since = TaskHistory.objects.filter(
        task_id=OuterRef("task_id"), transition="retry", created_at__gte=OuterRef("created_at"))
    (Assignment.objects
     .filter(outcome__in=["declined", "expired", "revoked"])
     .exclude(Q(outcome="revoked") & Q(outcome_reason__startswith="leave"))
     .exclude(Exists(retried_since))
     .update(excludes_assignee=True))


class Migration(migrations.Migration):

    dependencies = [
        ('assignment', '0001_initial'),
        ('tasks', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='assignment',
            name='excludes_assignee',
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_current_exclusions, migrations.RunPython.noop),
    ]
