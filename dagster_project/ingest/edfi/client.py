"""A small Ed-Fi ODS/API client: OAuth2 client credentials, offset/limit paging with
``Total-Count``, change-version windows and the ``/deletes`` endpoints.

Every error names the request (route, offset) and the HTTP status, never the response's
text: an ODS/API validation message quotes the record it refused, and a record holds a
student's values (decision 0009).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from dagster_project.privacy import describe_error
from dagster_project.settings import EdFiSettings

log = logging.getLogger(__name__)
Record = dict[str, Any]


class EdFiError(RuntimeError):
    """The API refused, failed or answered out of shape: the pull stops, nothing is loaded."""


@dataclass(frozen=True)
class ChangeWindow:
    """Change versions to pull: ``min_version`` None is a full pull up to ``max_version``."""

    min_version: int | None
    max_version: int

    def params(self) -> dict[str, int]:
        params = {"maxChangeVersion": self.max_version}
        if self.min_version is not None:
            params["minChangeVersion"] = self.min_version
        return params

    def __str__(self) -> str:
        return f"{self.min_version if self.min_version is not None else 0}-{self.max_version}"


class EdFiClient:
    """One API, one school year. Use as a context manager (it holds a connection pool)."""

    def __init__(
        self,
        settings: EdFiSettings,
        school_year: int,
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
        backoff_seconds: float = 1.0,
    ):
        self.settings = settings
        self.school_year = school_year
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._http = httpx.Client(timeout=settings.timeout_seconds, transport=transport)
        self._token: str | None = None

    def __enter__(self) -> EdFiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    # -- routes -------------------------------------------------------------------------

    def _year(self) -> str:
        return f"{self.school_year}/" if self.settings.year_specific else ""

    def resource_route(self, resource: str) -> str:
        """``/data/v3/ed-fi/<resource>``; an extension's resource is named
        ``<namespace>/<resource>`` (``nmped/...``)."""
        named = resource if "/" in resource else f"ed-fi/{resource}"
        return f"/data/v3/{self._year()}{named}"

    def _change_versions_route(self) -> str:
        return f"/changeQueries/v1/{self._year()}availableChangeVersions"

    # -- requests -----------------------------------------------------------------------

    def _fetch_token(self) -> str:
        route = "/oauth/token"
        try:
            response = self._http.post(
                self.settings.url + route,
                data={"grant_type": "client_credentials"},
                auth=(self.settings.client_id, self.settings.client_secret),
            )
        except httpx.HTTPError as exc:
            raise EdFiError(
                f"Ed-Fi API token request ({route}) failed: {describe_error(exc)}"
            ) from None
        if response.status_code != 200:
            hint = (
                " (check CTE_EDFI_CLIENT_ID and CTE_EDFI_CLIENT_SECRET)"
                if response.status_code in (400, 401)
                else ""
            )
            raise EdFiError(
                f"Ed-Fi API token request ({route}) answered HTTP {response.status_code}{hint}"
            )
        token = self._json(response, route).get("access_token")
        if not isinstance(token, str) or not token:
            raise EdFiError(f"Ed-Fi API token response ({route}) has no access_token")
        return token

    def _get(self, route: str, params: dict[str, Any]) -> httpx.Response:
        """GET with the bearer token: a 401 fetches a new token once (tokens expire, 30
        minutes on the ODS/API); a 5xx or a timeout is tried again ``retries`` times."""
        renewed = False
        attempt = 0
        where = f"{route} (offset {params['offset']})" if "offset" in params else route
        while True:
            if self._token is None:
                self._token = self._fetch_token()
            try:
                response = self._http.get(
                    self.settings.url + route,
                    params=params,
                    headers={"Authorization": f"Bearer {self._token}"},
                )
            except httpx.HTTPError as exc:
                failure = describe_error(exc)
            else:
                if response.status_code == 401 and not renewed:
                    self._token, renewed = None, True
                    continue
                if response.status_code < 400:
                    return response
                failure = f"HTTP {response.status_code}"
                if response.status_code < 500:
                    raise EdFiError(f"Ed-Fi API GET {where} answered {failure}")
            if attempt >= self.retries:
                raise EdFiError(
                    f"Ed-Fi API GET {where} failed: {failure} (after {attempt + 1} attempts)"
                )
            attempt += 1
            log.warning("Ed-Fi API GET %s: %s; trying again", where, failure)
            time.sleep(self.backoff_seconds * attempt)

    @staticmethod
    def _json(response: httpx.Response, route: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise EdFiError(f"Ed-Fi API {route} did not answer JSON") from None

    # -- the API ------------------------------------------------------------------------

    def available_change_versions(self) -> tuple[int, int]:
        """(oldestChangeVersion, newestChangeVersion) of the ODS."""
        route = self._change_versions_route()
        body = self._json(self._get(route, {}), route)
        try:
            return int(body["oldestChangeVersion"]), int(body["newestChangeVersion"])
        except (KeyError, TypeError, ValueError):
            raise EdFiError(
                f"Ed-Fi API {route} did not answer oldestChangeVersion and newestChangeVersion"
            ) from None

    def records(self, resource: str, window: ChangeWindow) -> Iterator[Record]:
        """Every record of ``resource`` changed in the window, page by page."""
        yield from self._pages(self.resource_route(resource), window)

    def deletes(self, resource: str, window: ChangeWindow) -> Iterator[Record]:
        """The resource's records deleted in the window: ``id``, ``changeVersion`` and,
        from ODS/API 5.3 on, ``keyValues``."""
        yield from self._pages(self.resource_route(resource) + "/deletes", window)

    def _pages(self, route: str, window: ChangeWindow) -> Iterator[Record]:
        limit, offset, total = self.settings.page_size, 0, None
        while True:
            params: dict[str, Any] = {"offset": offset, "limit": limit, **window.params()}
            if offset == 0:
                params["totalCount"] = "true"
            response = self._get(route, params)
            if offset == 0:
                header = response.headers.get("Total-Count")
                total = int(header) if header and header.isdigit() else None
            page = self._json(response, route)
            if not isinstance(page, list) or not all(isinstance(r, dict) for r in page):
                raise EdFiError(f"Ed-Fi API {route} (offset {offset}) did not answer a list")
            yield from page
            offset += len(page)
            if len(page) < limit or (total is not None and offset >= total):
                break
        if total is not None and offset != total:
            raise EdFiError(
                f"Ed-Fi API {route}: Total-Count said {total} records but {offset} were read "
                "(records changed while paging?); pull again"
            )
