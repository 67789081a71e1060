"""One pipeline stage of the adapters example; the init argument picks the
role, and the name the component is loaded under picks its grants:

- ``ingest`` (may list and read ``/in``): ``{"op": "list"}`` answers the CSV
  file names; ``{"op": "read", "file": f}`` answers the file's rows as
  objects keyed by the header line.
- ``transform`` (no capabilities): ``{"op": "transform", "row": r}`` answers
  the order as JSON-ready values. A row it cannot parse (a quantity that is
  not a number) makes it crash: a partner's bug the host must survive.
- ``writer`` (may write ``/out``): ``{"op": "write", "file": f, "records": rs}``
  writes ``rs`` as a JSON array to ``/out/<f>``; answers the bytes written.

Host-call failures are answered ``{"error": case, "detail": text}``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer, HostCallFailed, host


class Stage(GenServer):
    def init(self, args: str) -> None:
        if args not in ("ingest", "transform", "writer"):
            raise ValueError(f"unknown stage role {args!r}")
        self.role = args

    def handle_cast(self, msg: Any) -> None:
        """A cast (``hostkit send``) runs the same op and logs the answer."""
        self.log("info", f"{self.role}: {json.dumps(self.handle_call(msg, None))[:500]}")

    def handle_call(self, msg: Any, from_: From | None) -> Any:
        op = msg.get("op") if isinstance(msg, dict) else None
        try:
            if self.role == "ingest" and op == "list":
                return {"ok": sorted(e.name for e in host.files_list_dir("/in")
                                     if e.name.endswith(".csv"))}
            if self.role == "ingest" and op == "read":
                text = host.files_read("/in/" + msg["file"])
                return {"ok": list(csv.DictReader(io.StringIO(text)))}
            if self.role == "transform" and op == "transform":
                return {"ok": transform(msg["row"])}
            if self.role == "writer" and op == "write":
                data = json.dumps(msg["records"], indent=1, sort_keys=True)
                return {"ok": host.files_write("/out/" + msg["file"], data)}
        except HostCallFailed as exc:
            return {"error": exc.case, "detail": exc.detail}
        raise ValueError(f"stage {self.role} has no op {op!r}")


def transform(row: dict[str, str]) -> dict[str, Any]:
    """An order row -> a record. ``int()`` raises on a bad quantity: the crash."""
    quantity = int(row["quantity"])
    cents = round(float(row["unit_price"]) * 100)
    return {
        "order": row["order_id"].strip(),
        "customer": row["customer"].strip().title(),
        "quantity": quantity,
        "total_cents": quantity * cents,
    }


Actor = hostkit_guest.export(Stage)
