from django.urls import path

from .views import approvals, auth, home, mine, tasks

app_name = "dashboard"

urlpatterns = [
    path("", auth.root, name="root"),
    path("login/", auth.sign_in, name="sign-in"),
    path("logout/", auth.sign_out, name="sign-out"),
    path("dashboard/", home.home, name="home"),
    path("tasks/", tasks.task_list_page, name="tasks"),
    path("tasks/<uuid:pk>/", tasks.task_detail_page, name="task"),
    path("tasks/<uuid:pk>/act/", tasks.task_act, name="task-act"),
    path("tasks/<uuid:pk>/progress/", tasks.task_progress, name="task-progress"),
    path("tasks/<uuid:pk>/log/", tasks.task_log, name="task-log"),
    path("tasks/<uuid:pk>/log/lines/", tasks.task_log_lines, name="task-log-lines"),
    path("my/tasks/", mine.my_tasks_page, name="my-tasks"),
    path("my/leave/", mine.request_leave, name="request-leave"),
    path("approvals/", approvals.inbox_page, name="approvals"),
    path("approvals/<int:pk>/decide/", approvals.decide, name="approval-decide"),
]
