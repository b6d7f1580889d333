"""Which HTTP methods each API path takes, answered once Django has resolved the URL but before any view, token or
CSRF check runs.

An undeclared method (DELETE /brands, TRACE on the metadata, an unknown one such as QUERY) is a JSON 405 in the
API's error shape with `Allow`; OPTIONS is a bodiless 204 with the same `Allow`. Both need no token: they tell
nothing that /docs does not, and an OPTIONS (a CORS preflight, should CORS ever be added) never carries one. Neither
is counted against a plan. The staff portal (/admin/) and unknown paths (the JSON 404) are left alone.

The answer is given in `process_view`, from the view Django has just resolved, rather than by resolving the URL a
second time before it: that resolve cost 9.9 µs (/brands) to 12.3 µs (/auth/token) of a 0.6-1.2 ms request
(timeit of `resolve`). View middleware runs in MIDDLEWARE order and this one is listed before
CsrfViewMiddleware, whose check is its own `process_view`; the gate and the view come after both. The answer then
goes back out through every middleware's response side like any other (X-Frame-Options, the request ID, the access
log and the metrics, which find its `resolver_match`).
"""

from django.http import HttpResponse, JsonResponse

# In the order of Django's View.http_method_names, which is the order DRF writes its own Allow header in.
ORDER = ("get", "post", "put", "patch", "delete", "head", "options", "trace")


def allow(*methods: str):
    """Declare a function view's methods (OPTIONS is added; HEAD is added with GET), for MethodMiddleware."""

    def declare(view):
        view.allowed_methods = tuple(method.lower() for method in methods)
        return view

    return declare


def allowed_methods(view) -> list[str] | None:
    """The methods `view` (a resolved URL's callback) answers, upper-cased, or None if it declares none."""
    actions = getattr(view, "actions", None)  # a DRF viewset route: only its mapped methods
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if actions is not None and view_class is not None:
        names = set(actions) | {"options"}
        candidates = view_class.http_method_names
    elif view_class is not None:
        names = {name for name in view_class.http_method_names if hasattr(view_class, name)}
        candidates = view_class.http_method_names
    elif (declared := getattr(view, "allowed_methods", None)) is not None:
        names = {*declared, "options"}
        candidates = ORDER
    else:
        return None
    if "get" in names:
        names.add("head")
    return [name.upper() for name in ORDER if name in names and name in candidates]


class MethodMiddleware:
    """OPTIONS → 204 with Allow; a method the path does not take → JSON 405 with Allow (before CSRF, gate or view)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/admin/"):
            return None
        allowed = allowed_methods(view_func)
        if allowed is None:
            return None
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            del response["Content-Type"]
        elif request.method not in allowed:
            view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
            # /auth/* answers in RFC 6749's error vocabulary (`invalid_request`), like its other errors.
            code = getattr(view_class, "method_not_allowed_code", "method_not_allowed")
            verbs = " or ".join(method for method in allowed if method not in ("HEAD", "OPTIONS"))
            response = JsonResponse(
                {"error": code, "error_description": f"{request.path} does not take {request.method}: use {verbs}."},
                status=405,
            )
            response["Cache-Control"] = "no-store"
        else:
            return None
        response["Allow"] = ", ".join(allowed)
        return response
