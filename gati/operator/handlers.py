"""``gati operator``: kopf handlers around :func:`gati.operator.reconcile.converge`.

kopf brings the watch streams, retries with backoff, timers and the login; every
handler here does the same thing (converge, then write the status), so a create, an
update, a restart (``resume``) and the periodic timer all end in the same objects. The
timer is what picks up what no event announces: a migration Job completing, lag rising
in Kafka, a version going cold in the store. No finalizer is added: owner references
let the garbage collector delete an app's objects with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Collection
from typing import Any

import kopf

from gati.k8s.crd import PLURAL, crd
from gati.k8s.render import API_VERSION, GROUP, KIND, VERSION
from gati.operator.kube import Kube
from gati.operator.reconcile import converge

log = logging.getLogger(__name__)


class _Memo:
    """Per-operator state: the API client and one lock per resource."""

    def __init__(self) -> None:
        self.kube: Kube | None = None
        self.locks: dict[str, asyncio.Lock] = {}
        self.closing = False


def build_registry(*, interval_s: float, install_crd: bool) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            return kopf.login_with_service_account(**kwargs)
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        memo.state = _Memo()
        memo.state.kube = await Kube.connect()
        if install_crd:
            await memo.state.kube.apply(crd())

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        state: _Memo = memo.state
        state.closing = True
        # A reconcile still running (a timer at SIGTERM) finishes before the client goes.
        for lock in list(state.locks.values()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lock.acquire(), timeout=30)
        if state.kube is not None:
            await state.kube.close()

    async def reconcile(body: kopf.Body, memo: Any, **_: Any) -> None:
        state: _Memo = memo.state
        assert state.kube is not None
        ns, name = body.metadata.namespace, body.metadata.name
        lock = state.locks.setdefault(body.metadata.uid or "", asyncio.Lock())
        async with lock:
            if state.closing:
                return
            # A timer's body can be a moment old; converge from the newest version, and
            # write the status before the lock opens, so the next reconcile reads it.
            fresh = await state.kube.get(API_VERSION, KIND, ns, name)
            if fresh is None or fresh["metadata"].get("deletionTimestamp"):
                return
            status = await converge(state.kube, fresh)
            await state.kube.patch_status(API_VERSION, KIND, ns, name, status)

    for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on(GROUP, VERSION, PLURAL, registry=registry, id="converge")(reconcile)
    kopf.timer(GROUP, VERSION, PLURAL, registry=registry, interval=interval_s,
               initial_delay=interval_s, id="periodic")(reconcile)
    return registry


def run(*, namespaces: Collection[str], interval_s: float, install_crd: bool) -> None:
    """Run until SIGINT/SIGTERM; watches ``namespaces``, or every namespace if none."""
    registry = build_registry(interval_s=interval_s, install_crd=install_crd)
    kopf.run(registry=registry, standalone=True, clusterwide=not namespaces,
             namespaces=list(namespaces), memo=kopf.Memo())
