"""Under CI the suite runs on PostgreSQL; this test is what proves it."""

import pytest

from tests.conftest import IN_CI, database_is_postgres


@pytest.mark.django_db
def test_ci_runs_on_postgresql():
    if not IN_CI:
        pytest.skip("only meaningful under CI=true")
    assert database_is_postgres(), "CI must point DATABASE_URL at PostgreSQL"
