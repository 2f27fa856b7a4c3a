"""The pages people use in a browser, served by ``evidence serve`` beside the API: sign-in, the
control room's incidents and live board, the witness's upload page, the investigator's searches
and export, and administration. Server-rendered (Jinja2) with a little of the project's own
JavaScript; the same roles, services and audit as the API."""

from api.pages import admin, admin_watchlist, anpr_access, case, control, links, desk, investigate, notify, retention, session, witness
from api.pages.common import PageErrors, SecurityHeaders, install_page_handlers

__all__ = ["PAGE_ROUTERS", "PageErrors", "SecurityHeaders", "install_page_handlers"]

PAGE_ROUTERS = (session.router, control.router, case.router, links.router, desk.router, investigate.router, anpr_access.router,
                retention.router, admin.router, admin_watchlist.router, notify.router, witness.router)
