from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('execution', '0004_route_cursor'),
        ('tasks', '0008_shards'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('finished_at__isnull', False)), fields=['status', 'finished_at', 'assignee_user', 'task_type', 'started_at', 'due_at'], name='task_finished_idx'),
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('status', 'queued')), fields=['task_type', 'priority', 'queued_at'], name='task_queued_type_idx'),
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('due_at__isnull', False), ('status__in', ['assigned', 'blocked', 'draft', 'in_review', 'paused', 'pending_approval', 'queued', 'running', 'scheduled'])), fields=['due_at'], name='task_open_due_idx'),
        ),
    ]
