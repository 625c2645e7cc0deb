"""Fewer indexes on tasks_task and tasks_taskhistory: every index costs every insert.

- The single-column indexes Django gave the foreign keys task_type, assignee_user, created_by
  (tasks_task) and task (tasks_taskhistory) go: a composite index leading with the same column
  serves every lookup by it. The FK constraints stay as they are; only the indexes are dropped
  (the state says db_index=False), so no constraint is re-validated over a large table.
- (assignee_user, status) and (parent) become partial (IS NOT NULL): a new task has neither,
  so creating one touches neither index, and `col = x` still implies the condition.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (table, column, the name Django generated for the FK's own index)
FK_INDEXES = [
    ("tasks_task", "task_type_id", "tasks_task_task_type_id_2a97c2ff"),
    ("tasks_task", "assignee_user_id", "tasks_task_assignee_user_id_51c62ac2"),
    ("tasks_task", "created_by_id", "tasks_task_created_by_id_1345568a"),
    ("tasks_task", "parent_id", "tasks_task_parent_id_ee6a2001"),
    ("tasks_taskhistory", "task_id", "tasks_taskhistory_task_id_3c50c29d"),
]


def _drop(table, column, name):
    return migrations.RunSQL(
        sql=f'DROP INDEX IF EXISTS "{name}"',
        reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
    )


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0002_task_held_weight'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('assignee_user__isnull', False)), fields=['assignee_user', 'status'], name='task_held_status_idx'),
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('parent__isnull', False)), fields=['parent'], name='task_parent_idx'),
        ),
        migrations.RemoveIndex(
            model_name='task',
            name='task_assignee_status_idx',
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[_drop(*fk) for fk in FK_INDEXES],
            state_operations=[
                migrations.AlterField(
                    model_name='task',
                    name='assignee_user',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='assigned_tasks', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='task',
                    name='created_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='created_tasks', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='task',
                    name='parent',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='children', to='tasks.task'),
                ),
                migrations.AlterField(
                    model_name='task',
                    name='task_type',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='tasks', to='tasks.tasktype'),
                ),
                migrations.AlterField(
                    model_name='taskhistory',
                    name='task',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='history', to='tasks.task'),
                ),
            ],
        ),
    ]
