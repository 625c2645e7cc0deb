"""The assignment settings leave the task type: apps.assignment's AssignmentPolicy holds them
now, and its migration 0003 copied every type's values there before these columns go."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0003_fewer_task_indexes'),
        ('assignment', '0003_assignment_policy'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='tasktype',
            name='confirmation_timeout',
        ),
        migrations.RemoveField(
            model_name='tasktype',
            name='leave_policy',
        ),
        migrations.RemoveField(
            model_name='tasktype',
            name='overflow_assignee',
        ),
        migrations.RemoveField(
            model_name='tasktype',
            name='requires_assignment_confirmation',
        ),
        migrations.RemoveField(
            model_name='tasktype',
            name='skill_timeout',
        ),
        migrations.RemoveField(
            model_name='tasktype',
            name='strategy',
        ),
        migrations.RemoveField(
            model_name='tasktype',
            name='strategy_params',
        ),
    ]
