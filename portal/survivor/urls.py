from django.urls import path

from portal.survivor import views

app_name = "survivor"

urlpatterns = [
    path("start/", views.eligibility, name="eligibility"),
    path("start/files/", views.new_case, name="new_case"),
    path("case/", views.case_open, name="open"),
    path("case/status/", views.case_status, name="status"),
    path("case/add/", views.case_add, name="add"),
    path("case/files/<str:file_id>/withdraw/", views.file_withdraw, name="file_withdraw"),
    path("case/withdraw/", views.case_withdraw, name="withdraw"),
    path("case/delete/", views.case_delete, name="delete"),
    path("case/close/", views.case_close, name="close"),
    # JSON only: fingerprints, their signal types and a count. Never media.
    path("api/survivor/cases", views.api_case_create, name="api_case_create"),
    path("api/survivor/case/files", views.api_case_add_files, name="api_case_add_files"),
]
