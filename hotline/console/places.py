"""The register's places in the console, for admins (`dispatch.register.places_admin`): communities and their grids
(add, rename) and each community's directory of numbers, which the voice hotline reads out (add, change, remove).
One page shows them all; each form posts to its own route and comes back to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import NotFound
from dispatch.models import DirectoryKind, StaffRole, StaffUser
from dispatch.phones import national_format
from dispatch.register import places_admin
from dispatch.register.edit import EditRefused, phone_for_form
from hotline.console.auth import staff_only
from hotline.console.render import page
from hotline.services import Services


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _places(services: Services) -> list[dict[str, Any]]:
    region = services.settings.region
    with services.readonly() as session:
        return [
            {
                "id": c.id,
                "name": c.name,
                "grids": [{"id": g.id, "name": g.name} for g in c.grids],
                "directory": [
                    {
                        "id": e.id,
                        "kind": e.kind,
                        "name": e.name,
                        "phone": national_format(e.phone),
                        "typed": phone_for_form(e.phone, region),
                    }
                    for e in c.directory
                ],
            }
            for c in places_admin.list_places(session)
        ]


async def _page(request: Request, status_code: int = 200, problems: list[str] | None = None) -> Response:
    places = await run_in_threadpool(_places, _services(request))
    return page(
        request,
        "places.html",
        request.state.user,
        status_code=status_code,
        places=places,
        kinds=list(DirectoryKind),
        problems=problems or [],
        done=request.query_params.get("done", ""),
    )


@staff_only(StaffRole.ADMIN)
async def places(request: Request) -> Response:
    """Every community with its grids and directory, and the forms that change them."""
    return await _page(request)


async def _change(request: Request, change: Callable[[Session, StaffUser, dict[str, str], str], object]) -> Response:
    """Run one change with the form's fields in one transaction, then back to the page: saying it was done, or
    what is wrong (nothing was changed)."""
    services, user = _services(request), request.state.user
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}

    def run() -> None:
        with services.sessions.begin() as session:
            change(session, user, form, services.settings.region)

    try:
        await run_in_threadpool(run)
    except NotFound:
        return await _page(request, 404, ["missing"])
    except EditRefused as exc:
        return await _page(request, 400, [f"{p.field}_{p.code}" for p in exc.problems])
    return RedirectResponse("/people/places?done=saved", status_code=303)


def _id(request: Request, name: str) -> int:
    value: int = request.path_params[name]
    return value


@staff_only(StaffRole.ADMIN)
async def add_community(request: Request) -> Response:
    return await _change(request, lambda s, u, f, _: places_admin.add_community(s, u, f.get("name", "")))


@staff_only(StaffRole.ADMIN)
async def rename_community(request: Request) -> Response:
    community_id = _id(request, "community_id")
    return await _change(
        request, lambda s, u, f, _: places_admin.rename_community(s, u, community_id, f.get("name", ""))
    )


@staff_only(StaffRole.ADMIN)
async def add_grid(request: Request) -> Response:
    community_id = _id(request, "community_id")
    return await _change(request, lambda s, u, f, _: places_admin.add_grid(s, u, community_id, f.get("name", "")))


@staff_only(StaffRole.ADMIN)
async def rename_grid(request: Request) -> Response:
    grid_id = _id(request, "grid_id")
    return await _change(request, lambda s, u, f, _: places_admin.rename_grid(s, u, grid_id, f.get("name", "")))


def _entry_fields(form: dict[str, str]) -> tuple[str, str, str]:
    return form.get("kind", ""), form.get("name", ""), form.get("phone", "")


@staff_only(StaffRole.ADMIN)
async def add_entry(request: Request) -> Response:
    community_id = _id(request, "community_id")
    return await _change(
        request, lambda s, u, f, region: places_admin.add_entry(s, u, community_id, *_entry_fields(f), region)
    )


@staff_only(StaffRole.ADMIN)
async def update_entry(request: Request) -> Response:
    entry_id = _id(request, "entry_id")
    return await _change(
        request, lambda s, u, f, region: places_admin.update_entry(s, u, entry_id, *_entry_fields(f), region)
    )


@staff_only(StaffRole.ADMIN)
async def remove_entry(request: Request) -> Response:
    entry_id = _id(request, "entry_id")
    return await _change(request, lambda s, u, f, _: places_admin.remove_entry(s, u, entry_id))


ROUTES: list[BaseRoute] = [
    Route("/people/places", places),
    Route("/people/places/communities", add_community, methods=["POST"]),
    Route("/people/places/communities/{community_id:id}", rename_community, methods=["POST"]),
    Route("/people/places/communities/{community_id:id}/grids", add_grid, methods=["POST"]),
    Route("/people/places/grids/{grid_id:id}", rename_grid, methods=["POST"]),
    Route("/people/places/communities/{community_id:id}/directory", add_entry, methods=["POST"]),
    Route("/people/places/directory/{entry_id:id}", update_entry, methods=["POST"]),
    Route("/people/places/directory/{entry_id:id}/remove", remove_entry, methods=["POST"]),
]
