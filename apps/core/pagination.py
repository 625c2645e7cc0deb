"""Page-number pagination that refuses what it cannot honour instead of guessing."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination as _PageNumberPagination


def _positive_int(request, name: str, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    # Only plain digits: int() would also take " 7", "+7" and "٧", which the schema does not.
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValidationError({name: ["Must be a whole number of at least 1."]})
    value = int(raw)
    if maximum is not None and value > maximum:
        raise ValidationError({name: [f"Must be at most {maximum}."]})
    return value


class PageNumberPagination(_PageNumberPagination):
    """`page` from 1, `page_size` from 1 to 500.

    DRF's own class quietly falls back to the default for a page size it cannot read
    (`page_size=false` answered 50 rows); a client then pages wrongly without knowing.
    A page past the last one stays a 404, as DRF answers it.
    """

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        size = _positive_int(request, self.page_size_query_param, self.max_page_size)
        return self.page_size if size is None else size

    def paginate_queryset(self, queryset, request, view=None):
        _positive_int(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.page_query_param: {"minimum": 1},
                  self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size}}
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
