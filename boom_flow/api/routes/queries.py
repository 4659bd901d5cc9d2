"""``/queries``: find, cone_search, count, estimated_count, pipeline (api.md "Queries")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from boom_flow.api import archive, guards
from boom_flow.api.auth import CurrentUser
from boom_flow.api.cone import cone_search
from boom_flow.api.encoding import DocumentResponse, dumps, envelope
from boom_flow.api.errors import too_large
from boom_flow.api.rights import scope_pipeline
from boom_flow.api.state import ApiState, api_state, query_slot

router = APIRouter(prefix="/queries", tags=["queries"], dependencies=[Depends(query_slot)])

Document = dict[str, Any]


class CatalogQuery(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    catalog_name: Annotated[str, Field(min_length=1)]
    max_time_ms: Annotated[int, Field(gt=0)] | None = None


class FindQuery(CatalogQuery):
    filter: Document = Field(default_factory=dict)
    projection: Document | None = None
    limit: Annotated[int, Field(ge=0)] | None = None
    skip: Annotated[int, Field(ge=0)] = 0
    sort: Document | list[list[Any]] | None = None


class ConeQuery(FindQuery):
    object_coordinates: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]]
    radius: Annotated[float, Field(gt=0)]
    unit: str = "Arcseconds"


class CountQuery(CatalogQuery):
    filter: Document = Field(default_factory=dict)


class PipelineQuery(CatalogQuery):
    pipeline: list[Document]


def documents_response(message: str, encoded: list[bytes]) -> Response:
    """The envelope around documents already encoded (each encoded once, for the size cap)."""
    body = b'{"message":' + dumps(message) + b',"data":[' + b",".join(encoded) + b"]}"
    return Response(body, media_type="application/json")


def _budget(state: ApiState, query: CatalogQuery) -> int:
    api = state.api
    return guards.budget_ms(query.max_time_ms, api.default_max_time_ms, api.max_time_ms_limit)


@router.post("/find", summary="Documents of a catalog matching a filter")
def find(request: Request, query: FindQuery, user: CurrentUser) -> Response:
    state = api_state(request)
    guards.refuse_forbidden(query.model_dump())
    limit = guards.check_limit(query.limit, state.api.max_limit)
    sort = archive.normalise_sort(query.sort)
    size = guards.SizeBudget(state.api.max_response_bytes)
    with archive.time_budget(_budget(state, query)):
        name = archive.readable_catalog(state.db, query.catalog_name, user.rights)
        cursor = archive.find(state.db, name, user.rights, query.filter,
                              projection=query.projection, sort=sort, skip=query.skip,
                              limit=limit)
        encoded = size.encode_all(cursor)
    return documents_response(f"found {len(encoded)} documents in {name}", encoded)


@router.post("/cone_search", summary="Documents within a radius of each position")
@router.post("/cone-search", include_in_schema=False)  # BOOM's own spelling
def cone(request: Request, query: ConeQuery, user: CurrentUser) -> DocumentResponse:
    state = api_state(request)
    guards.refuse_forbidden(query.model_dump())
    if len(query.object_coordinates) > state.api.max_cone_positions:
        raise too_large(f"{len(query.object_coordinates)} positions; at most "
                        f"{state.api.max_cone_positions} per cone search")
    limit = guards.check_limit(query.limit, state.api.max_limit)
    size = guards.SizeBudget(state.api.max_response_bytes)
    with archive.time_budget(_budget(state, query)):
        name = archive.readable_catalog(state.db, query.catalog_name, user.rights)
        matches = cone_search(state.db, name, user.rights, query, limit=limit,
                              max_matches=state.api.max_limit)
    for docs in matches.values():
        size.encode_all(docs)
    found = sum(len(docs) for docs in matches.values())
    return envelope(f"found {found} documents in {name} around {len(matches)} positions",
                    matches)


@router.post("/count", summary="Number of documents matching a filter")
def count(request: Request, query: CountQuery, user: CurrentUser) -> DocumentResponse:
    state = api_state(request)
    guards.refuse_forbidden(query.model_dump())
    with archive.time_budget(_budget(state, query)):
        name = archive.readable_catalog(state.db, query.catalog_name, user.rights)
        total = archive.count(state.db, name, user.rights, query.filter)
    return envelope(f"counted {total} documents in {name}", total)


@router.post("/estimated_count", summary="Number of documents of a catalog (from metadata)")
@router.post("/estimated-count", include_in_schema=False)  # BOOM's own spelling
def estimated_count(request: Request, query: CatalogQuery, user: CurrentUser
                    ) -> DocumentResponse:
    state = api_state(request)
    with archive.time_budget(_budget(state, query)):
        name = archive.readable_catalog(state.db, query.catalog_name, user.rights)
        total = archive.estimated_count(state.db, name, user.rights)
    return envelope(f"about {total} documents in {name}", total)


PIPELINE_DESCRIPTION = """Runs the pipeline on the configured document server, so the answer
is that server's. On MongoDB it follows MongoDB's documentation. The embedded server
(SecantusDB 0.7) deviates: a field path through an array of documents inside an
expression gives nothing (`{"$arrayElemAt": ["$prv_candidates.magpsf", 0]}` is null where
MongoDB gives the first magnitude; `$size` of such a path fails); a variable path to an
absent field, and `$first` of an empty array, give null instead of no value; missing is
`$in` `[null]`; documents compare regardless of field order; `$sortArray` fails on mixed
types; a nested inclusion projection (`{c: {jd: 1}}`) gives the literal; `\\w` matches
non-ASCII letters (Python's regular expressions, where MongoDB's PCRE2 runs without
Unicode properties). `boom-flow doctor --conformance` lists the deviations of the server a site runs
(FerretDB, DocumentDB and Cosmos DB included). Users' filters do not depend on this: they
run on boom_flow's own evaluator, which follows MongoDB."""


@router.post("/pipeline", summary="Run an aggregation pipeline on a catalog",
             description=PIPELINE_DESCRIPTION)
def pipeline(request: Request, query: PipelineQuery, user: CurrentUser) -> Response:
    state = api_state(request)
    guards.refuse_forbidden(query.model_dump())
    guards.validate_pipeline(query.pipeline)
    size = guards.SizeBudget(state.api.max_response_bytes)
    cap = state.api.max_limit
    encoded: list[bytes] = []
    with archive.time_budget(_budget(state, query)):
        name = archive.readable_catalog(state.db, query.catalog_name, user.rights)
        stages = scope_pipeline(query.pipeline, name, user.rights)
        for document in archive.aggregate(state.db, name, stages):
            if len(encoded) == cap:
                raise too_large(f"the pipeline returns more than {cap} documents; add a $limit")
            encoded.append(size.encode(document))
    return documents_response(f"the pipeline returned {len(encoded)} documents", encoded)
