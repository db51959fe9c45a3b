"""Peers 3 and 4: ``handler.work`` as a Gati app (no modules, no database of its own).

gati worker bench.peers.gati_app:app   (GATI_LIFECYCLE=off for peer 4)
"""

from __future__ import annotations

from bench.peers.handler import work
from gati import App, GlobalContext, LocalContext, Request, RequestError, Response

app = App("bench_peers")


@app.post("/work")
async def price_order(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    if not isinstance(req.body, dict):
        raise RequestError("the body must be a JSON object", code="validation_error")
    try:
        res.json(work(req.body))
    except (ValueError, KeyError, TypeError) as exc:
        raise RequestError(str(exc), code="validation_error") from None
