from django.urls import path, re_path

from apps.execution.models import UNIT_ID_PATTERN

from .views import (
                    approvals,
                    auth,
                    dead_letters,
                    home,
                    mine,
                    schedules,
                    staff,
                    tasks,
                    units,
                    workflows,
)

app_name = "dashboard"
UNIT_ID = UNIT_ID_PATTERN.strip("^$")

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
    path("staff/", staff.staff_page, name="staff"),
    path("units/", units.unit_list_page, name="units"),
    # A unit's id as the API spells it (UNIT_ID_PATTERN); anything else is simply not found.
    re_path(rf"^units/(?P<unit_id>{UNIT_ID})/$", units.unit_detail_page, name="unit"),
    re_path(rf"^units/(?P<unit_id>{UNIT_ID})/(?P<change>drain|undrain)/$",
            units.unit_change_status, name="unit-change"),
    path("schedules/", schedules.schedule_list_page, name="schedules"),
    path("schedules/<int:pk>/", schedules.schedule_detail_page, name="schedule"),
    path("schedules/<int:pk>/act/", schedules.schedule_act, name="schedule-act"),
    path("workflows/", workflows.workflow_list_page, name="workflows"),
    path("workflows/<int:pk>/", workflows.workflow_detail_page, name="workflow"),
    path("dead-letters/", dead_letters.dead_letters_page, name="dead-letters"),
    path("dead-letters/replay/", dead_letters.replay, name="dead-letters-replay"),
]
