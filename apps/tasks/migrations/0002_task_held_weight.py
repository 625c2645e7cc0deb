from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

# Statuses in which someone holds a task (apps.tasks.states.HELD_STATES at this migration).
HELD = ["assigned", "running", "paused", "in_review"]


def record_held_weights(apps, schema_editor):
    """Tasks held now took their type's current weight, as far as anyone can tell; loads are
    recomputed from that, so what each holder gives back later matches what they carry."""
    Task = apps.get_model("tasks", "Task")
    TaskType = apps.get_model("tasks", "TaskType")
    Staff = apps.get_model("staff", "Staff")
    weight = TaskType.objects.filter(pk=OuterRef("task_type_id")).values("capacity_weight")
    Task.objects.filter(status__in=HELD).update(held_weight=Subquery(weight))
    held = (
        Task.objects.filter(assignee_user_id=OuterRef("user_id"), status__in=HELD)
        .order_by().values("assignee_user_id").annotate(total=Sum("held_weight"))
        .values("total")
    )
    Staff.objects.update(load=Coalesce(Subquery(held), 0))


class Migration(migrations.Migration):

    dependencies = [
        ("tasks", "0001_initial"),
        ("staff", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="held_weight",
            field=models.PositiveSmallIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(record_held_weights, migrations.RunPython.noop),
    ]
