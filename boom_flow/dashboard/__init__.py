"""boom_flow's page on the Dask dashboard, registered the way distributed registers its own.

The scheduler serves the HTTP routes of the modules listed in the dask config
``distributed.scheduler.http.routes``; ``boom_flow.dashboard.page`` is such a module.
``enable_page()`` adds it for schedulers started in this process (the LocalCluster of
``boom-flow run``); a deployed scheduler lists it in its dask config instead::

    distributed:
      scheduler:
        http:
          routes:
            - distributed.http.scheduler.prometheus
            - distributed.http.scheduler.info
            - distributed.http.scheduler.json
            - distributed.http.health
            - distributed.http.proxy
            - distributed.http.statics
            - boom_flow.dashboard.page

(or ``DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES='[..., "boom_flow.dashboard.page"]'``).
The data comes from the pipeline's driver, which logs one event per batch on the
scheduler (``boom_flow.pipeline.events``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import dask

ROUTES_MODULE = "boom_flow.dashboard.page"
ROUTES_KEY = "distributed.scheduler.http.routes"
PAGE = "boom_flow"


def routes_with_page() -> list[str]:
    """The configured scheduler route modules, with the boom_flow page's added."""
    routes = list(dask.config.get(ROUTES_KEY, default=[]) or [])
    return routes if ROUTES_MODULE in routes else [*routes, ROUTES_MODULE]


def enable_page() -> AbstractContextManager[Any]:
    """A ``dask.config.set`` context under which new schedulers serve the page.

    >>> from boom_flow.dashboard import ROUTES_MODULE, enable_page
    >>> import dask
    >>> with enable_page():
    ...     ROUTES_MODULE in dask.config.get("distributed.scheduler.http.routes")
    True
    """
    return dask.config.set({ROUTES_KEY: routes_with_page()})


def page_address(dashboard_link: str | None) -> str | None:
    """The page's URL from a client's ``dashboard_link`` (``.../status``).

    >>> page_address("http://127.0.0.1:8787/status")
    'http://127.0.0.1:8787/boom_flow'
    >>> page_address(None) is None
    True
    """
    if not dashboard_link:
        return None
    base = dashboard_link.rsplit("/", 1)[0] if dashboard_link.endswith("/status") \
        else dashboard_link.rstrip("/")
    return f"{base}/{PAGE}"
