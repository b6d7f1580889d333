"""The staff portal: Django's admin with its own site, which offers only Charp's pages.

django-oauth-toolkit registers its pages on Django's default site; they edit client secrets and list token rows
directly, a way around the services and the audit log. The portal is a site of its own, so those pages are simply
never routed (nothing is unregistered at import); staff users and groups are offered as on the default site.
"""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from vendors.admin.login import ThrottledAdminAuthenticationForm


class StaffPortal(admin.AdminSite):
    site_header = "Charp staff portal"
    site_title = "Charp staff portal"
    index_title = "Vendors, credentials and audit log"
    login_form = ThrottledAdminAuthenticationForm


# Named "admin", so that every admin URL name (admin:index, admin:vendors_vendor_change, ...) is the usual one.
portal = StaffPortal(name="admin")
portal.register(User, UserAdmin)
portal.register(Group, GroupAdmin)
