"""Django's session, user and message middleware, run only where they serve: the staff portal under /admin/.

The API authenticates every request with a bearer token and keeps no session; there these three did nothing but cost
time on every call. (CSRF stays on everywhere: `check --deploy` asks for Django's own, and DRF's views are exempt
anyway.) They stay subclasses of Django's own, which is what the admin's system checks look for.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware

STAFF_PREFIX = "/admin/"


class StaffOnly:
    def __call__(self, request):
        if not request.path_info.startswith(STAFF_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


class StaffSessionMiddleware(StaffOnly, SessionMiddleware):
    pass


class StaffAuthenticationMiddleware(StaffOnly, AuthenticationMiddleware):
    pass


class StaffMessageMiddleware(StaffOnly, MessageMiddleware):
    pass
