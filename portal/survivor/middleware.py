"""No endpoint accepts media: refuse any request that carries a file, and any body that is
not a form or JSON.

Files are fingerprinted in the browser. Refusing here, for the whole site, means no view
(ours, the admin's, a future one) can receive a file by mistake; a test walks every URL
pattern to prove it. Multipart forms without a file part stay allowed because plain forms
(and Django's test client) may use that encoding; a part that carries a file is skipped
unread into any storage and the whole request refused.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse, JsonResponse

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
ACCEPTED_BODY_TYPES = FORM_TYPES | {"application/json"}
EMPTY_FORM_BYTES = 256


class RefuseFilesUploadHandler(FileUploadHandler):
    """Notes that a file part was sent and skips it: nothing is kept in memory or on disk."""

    saw_file = False

    def new_file(self, *args: object, **kwargs: object) -> None:
        self.saw_file = True
        raise SkipFile

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        return None

    def file_complete(self, file_size: int) -> None:
        return None


class RefuseMediaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if body_refused(request):
            return refusal(request)
        return self.get_response(request)


def refusal(request: HttpRequest | None = None) -> HttpResponse:
    if request is not None and request.path_info.startswith("/api/v1/"):
        # The partner API's documented error shape, like every other error it gives.
        response = JsonResponse({"error": {"code": "unsupported_media_type",
                                           "message": "send Content-Type: application/json"}}, status=415)
        response["Cache-Control"] = "no-store"
        return response
    return HttpResponse(
        "This service never accepts files. Only fingerprints, sent as JSON, are accepted.\n",
        status=415,
        content_type="text/plain; charset=utf-8",
    )


def body_refused(request: HttpRequest) -> bool:
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    has_body = _content_length(request) > 0 or "HTTP_TRANSFER_ENCODING" in request.META
    if not has_body:
        return False
    if content_type not in ACCEPTED_BODY_TYPES:
        return True
    if content_type == "multipart/form-data":
        # Django parses multipart only for POST; anywhere else it would reach a view unread.
        if request.method != "POST":
            return True
        handler = RefuseFilesUploadHandler(request)
        request.upload_handlers = [handler]
        try:
            fields = request.POST  # parsed now, with the handler above, before any view
        except Exception:
            return True
        # A body of some size that parsed into no fields is not a form: something else (an
        # image with a made-up boundary, say) was sent. An empty form is a few dozen bytes.
        return handler.saw_file or bool(request.FILES) or (not fields and _content_length(request) > EMPTY_FORM_BYTES)
    return False


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 1
