"""A task type's assignment settings move to AssignmentPolicy, owned by this app.

The table is created and every existing type's values copied into it while the task type
still has its columns (tasks 0004, which drops them, runs after this). Backwards, the values
go back to the columns (restored first by reversing tasks 0004) before the table is dropped.
"""

import apps.assignment.models
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FIELDS = ("requires_assignment_confirmation", "strategy", "strategy_params",
          "confirmation_timeout", "skill_timeout", "overflow_assignee_id", "leave_policy")


def copy_to_policies(apps, schema_editor):
    TaskType = apps.get_model("tasks", "TaskType")
    AssignmentPolicy = apps.get_model("assignment", "AssignmentPolicy")
    rows = TaskType.objects.order_by("pk").values("pk", *FIELDS).iterator(chunk_size=2000)
    batch = []
    for row in rows:
        batch.append(AssignmentPolicy(task_type_id=row.pop("pk"), **row))
        if len(batch) >= 2000:
            AssignmentPolicy.objects.bulk_create(batch)
            batch = []
    AssignmentPolicy.objects.bulk_create(batch)


def copy_back_to_task_types(apps, schema_editor):
    TaskType = apps.get_model("tasks", "TaskType")
    AssignmentPolicy = apps.get_model("assignment", "AssignmentPolicy")
    for row in AssignmentPolicy.objects.values("task_type_id", *FIELDS).iterator():
        TaskType.objects.filter(pk=row.pop("task_type_id")).update(**row)


class Migration(migrations.Migration):

    dependencies = [
        ('assignment', '0002_exclusions_per_attempt'),
        ('tasks', '0003_fewer_task_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AssignmentPolicy',
            fields=[
                ('task_type', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='assignment_policy', serialize=False, to='tasks.tasktype')),
                ('requires_assignment_confirmation', models.BooleanField(default=False)),
                ('strategy', models.CharField(default='least_loaded', max_length=50, validators=[apps.assignment.models.validate_strategy_name])),
                ('strategy_params', models.JSONField(blank=True, default=dict)),
                ('confirmation_timeout', models.PositiveIntegerField(default=3600, help_text='Seconds an assignee has to accept, when confirmation is required.')),
                ('skill_timeout', models.PositiveIntegerField(blank=True, help_text='Seconds a task may wait for a qualified assignee before the pool widens (levels relaxed one step, then any holder of the skill, then overflow).', null=True)),
                ('leave_policy', models.CharField(choices=[('reassign_all', 'Reassign All'), ('reassign_not_started', 'Reassign Not Started'), ('keep', 'Keep')], default='reassign_not_started', max_length=20)),
                ('overflow_assignee', models.ForeignKey(blank=True, help_text='Last resort for work nobody qualified could take.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name_plural': 'assignment policies',
            },
        ),
        migrations.RunPython(copy_to_policies, copy_back_to_task_types, elidable=False),
    ]
