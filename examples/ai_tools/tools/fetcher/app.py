"""fetcher: fetches a URL for an agent through the host's ``http`` function.

``"schema"`` answers the tool's JSON schema; ``{"url": u}`` answers
``{"ok": {"status": s, "body": b}}``, or ``{"error": case, "detail": why}``
when the host refuses or fails the request: a URL the operator did not
grant comes back as ``denied`` with the policy's reason, for the agent to
read and the audit log to keep.
"""

from __future__ import annotations

from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed, host

SCHEMA = {
    "name": "fetch",
    "description": "GET a web page and return its status and text (first 2000 characters).",
    "parameters": {
        "type": "object",
        "properties": {"url": {"type": "string", "description": "an http:// or https:// URL"}},
        "required": ["url"],
        "additionalProperties": False,
    },
}


class Fetcher(GenServer):
    def handle_call(self, msg: Any, from_: From) -> Any:
        if msg == "schema":
            return SCHEMA
        url = msg.get("url") if isinstance(msg, dict) else None
        if not isinstance(url, str):
            return {"error": "invalid", "detail": "url: expected a string"}
        try:
            resp = host.http_request("GET", url, timeout_ms=5000)
        except HostCallFailed as exc:
            return {"error": exc.case, "detail": exc.detail}
        return {"ok": {"status": resp.status, "body": resp.body[:2000]}}


Actor = hostkit_guest.export(Fetcher)
