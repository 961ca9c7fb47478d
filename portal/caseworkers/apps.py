from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class CaseworkersConfig(AppConfig):
    name = "portal.caseworkers"
    label = "caseworkers"
    verbose_name = _("Caseworkers")


class StaffAdminConfig(admin_apps.AdminConfig):
    """Replaces django.contrib.admin so that `admin.site` is the second-factor admin site:
    every app keeps registering with `admin.site` and no admin page exists without 2FA."""

    default = False  # named explicitly in INSTALLED_APPS; CaseworkersConfig is this module's default
    default_site = "portal.caseworkers.admin_site.StaffAdminSite"
