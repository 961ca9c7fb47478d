from django.urls import path

from portal.caseworkers import signin_views, staff_views, views

app_name = "caseworkers"

urlpatterns = [
    path("caseworkers/sign-in/", signin_views.sign_in, name="sign_in"),
    path("caseworkers/sign-in/code/", signin_views.verify, name="verify"),
    path("caseworkers/sign-in/set-up/", signin_views.enrol, name="enrol"),
    path("caseworkers/sign-out/", signin_views.sign_out, name="sign_out"),
    path("caseworkers/welcome/", signin_views.welcome, name="welcome"),
    path("caseworkers/", views.cases, name="cases"),
    path("caseworkers/cases/new/", views.case_new, name="case_new"),
    path("caseworkers/cases/new/fingerprints/", views.case_new_submit, name="case_new_submit"),
    path("caseworkers/cases/<str:case_id>/", views.case_detail, name="case"),
    path("caseworkers/cases/<str:case_id>/notes/", views.note_add, name="note_add"),
    path("caseworkers/cases/<str:case_id>/notes/<int:note_id>/", views.note_edit, name="note_edit"),
    path("caseworkers/cases/<str:case_id>/handover/", views.handover, name="handover"),
    path("caseworkers/audit/", views.audit, name="audit"),
    path("caseworkers/audit.csv", views.audit_export, name="audit_export"),
    path("caseworkers/account/", views.account, name="account"),
    path("caseworkers/account/recovery-codes/", views.recovery_codes_new, name="recovery_codes_new"),
    path("staff/review/", staff_views.review_queue, name="review_queue"),
    path("staff/review/<str:fingerprint_id>/", staff_views.review_decide, name="review_decide"),
]
