"""On PostgreSQL, the database itself refuses to change or delete audit events, so the trail
stays append-only even for code that bypasses the model (raw SQL, a shell, a future bug).
SQLite (the embedded development default) relies on the model's refusal alone.

TRUNCATE is left alone on purpose: it is how test runs and `flush` empty a database, and no
code path of the app uses it (a deployment can also REVOKE TRUNCATE from the app's role)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION caseworkers_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER caseworkers_auditevent_append_only
    BEFORE UPDATE OR DELETE ON caseworkers_auditevent
    FOR EACH ROW EXECUTE FUNCTION caseworkers_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS caseworkers_auditevent_append_only ON caseworkers_auditevent;
DROP FUNCTION IF EXISTS caseworkers_audit_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("caseworkers", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
