"""Cases made with a helpline before origins were recorded: mark them (and any of their
additions still waiting in the outbox) as origin "helpline"."""

from django.db import migrations


def mark_helpline_cases(apps, schema_editor):
    AssistedCase = apps.get_model("caseworkers", "AssistedCase")
    Case = apps.get_model("hashbank", "Case")
    FeedOutbox = apps.get_model("hashbank", "FeedOutbox")
    case_ids = AssistedCase.objects.values("case_id")
    Case.objects.filter(pk__in=case_ids).update(origin="helpline")
    FeedOutbox.objects.filter(op="add", case_id__in=case_ids).update(origin="helpline")


class Migration(migrations.Migration):
    dependencies = [
        ("caseworkers", "0002_audit_append_only"),
        ("hashbank", "0004_case_origin"),
    ]

    operations = [migrations.RunPython(mark_helpline_cases, migrations.RunPython.noop)]
