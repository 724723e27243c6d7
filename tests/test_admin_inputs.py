"""Every admin list answers any date-hierarchy filter without a server error."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

from config.admin import DateHierarchyAdmin

pytestmark = pytest.mark.django_db

WITH_DATE_HIERARCHY = sorted(
    (model._meta.label, model_admin)
    for model, model_admin in admin.site._registry.items()
    if model_admin.date_hierarchy
)


@pytest.mark.parametrize(("label", "model_admin"), WITH_DATE_HIERARCHY, ids=[label for label, _ in WITH_DATE_HIERARCHY])
@pytest.mark.parametrize(
    "query",
    ["{f}__year=9999", "{f}__year=99999999999", "{f}__year=9999&{f}__month=12", "{f}__year=2024&{f}__month=13"],
    ids=["year 9999", "a huge year", "December 9999", "month 13"],
)
def test_an_impossible_date_filter_is_a_bad_filter_not_a_server_error(
    admin_client: Client, label: str, model_admin: admin.ModelAdmin, query: str
) -> None:
    opts = model_admin.model._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/?" + query.format(f=model_admin.date_hierarchy)

    response = admin_client.get(url)

    # Django's answer to a filter it cannot apply: the unfiltered list, with ?e=1.
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_every_admin_with_a_date_hierarchy_bounds_it() -> None:
    assert WITH_DATE_HIERARCHY
    assert [
        label for label, model_admin in WITH_DATE_HIERARCHY if not isinstance(model_admin, DateHierarchyAdmin)
    ] == []
