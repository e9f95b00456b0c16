"""WhiteNoise as middleware that also runs natively on the async path.

WhiteNoise's own middleware is sync-only, which makes Django hop to a thread and back for
every request under ASGI, predictions included. This subclass serves static files the
same way and passes everything else straight through, sync or async.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request):
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self._serve_buffered)(static_file, request)
        return await self.get_response(request)

    def _serve_buffered(self, static_file, request) -> HttpResponse:
        # Django's async handler would drain WhiteNoise's file iterator anyway (with a
        # warning per request); reading it here, in the worker thread, is the same work.
        streamed = self.serve(static_file, request)
        response = HttpResponse(b"".join(streamed.streaming_content), status=streamed.status_code)
        for key, value in streamed.items():
            response[key] = value
        streamed.close()
        return response
