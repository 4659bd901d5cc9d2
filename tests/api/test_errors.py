"""Every failure leaves the server as ``{"message"}`` with its status (in-process app)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from pymongo.errors import ExecutionTimeout, OperationFailure

from boom_flow.api.errors import ApiError, database_error, install_handlers


class Body(BaseModel):
    n: int


def _app() -> FastAPI:
    app = FastAPI()
    install_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    @app.get("/teapot")
    def teapot() -> None:
        raise ApiError(418, "short and stout")

    @app.get("/slow")
    def slow() -> None:
        raise ExecutionTimeout("operation exceeded time limit", 50)

    @app.post("/body")
    def body(value: Body) -> int:
        return value.n

    return app


def _get(method: str, path: str, **kwargs: object) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(call())


def test_error_shapes() -> None:
    cases = {("GET", "/boom"): 500, ("GET", "/teapot"): 418, ("GET", "/slow"): 503,
             ("GET", "/nowhere"): 404, ("POST", "/teapot"): 405}
    for (method, path), status in cases.items():
        response = _get(method, path)
        assert response.status_code == status
        assert set(response.json()) == {"message"}
    assert "secret detail" not in _get("GET", "/boom").text
    invalid = _get("POST", "/body", json={"n": "many"})
    assert invalid.status_code == 422
    assert invalid.json()["message"].startswith("malformed request: n:")


def test_database_errors() -> None:
    timeout = database_error(ExecutionTimeout("time limit", 50), 250)
    assert timeout.status == 503 and "time budget of 250 ms" in timeout.message
    refused = database_error(OperationFailure("unknown operator: $nope", 2,
                                              {"errmsg": "unknown operator: $nope"}))
    assert refused.status == 400 and "$nope" in refused.message
