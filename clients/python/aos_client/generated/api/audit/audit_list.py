from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.audit_page import AuditPage
from ...models.error_body import ErrorBody
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: int | Unset = UNSET,
    after: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    resource: str | Unset = UNSET,
    from_ms: int | Unset = UNSET,
    to_ms: int | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["order"] = order

    params["limit"] = limit

    params["before"] = before

    params["after"] = after

    params["actor"] = actor

    params["action"] = action

    params["resource"] = resource

    params["from_ms"] = from_ms

    params["to_ms"] = to_ms


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/audit",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> AuditPage | ErrorBody | None:
    if response.status_code == 200:
        response_200 = AuditPage.from_dict(response.json())



        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())



        return response_403

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())



        return response_422

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())



        return response_429

    if response.status_code == 500:
        response_500 = ErrorBody.from_dict(response.json())



        return response_500

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[AuditPage | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: int | Unset = UNSET,
    after: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    resource: str | Unset = UNSET,
    from_ms: int | Unset = UNSET,
    to_ms: int | Unset = UNSET,

) -> Response[AuditPage | ErrorBody]:
    """ The tenant's audit log

     Needs the `audit:read` permission.

    Args:
        order (str | Unset):
        limit (int | Unset):
        before (int | Unset):
        after (int | Unset):
        actor (str | Unset):
        action (str | Unset):
        resource (str | Unset):
        from_ms (int | Unset):
        to_ms (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | ErrorBody]
     """


    kwargs = _get_kwargs(
        order=order,
limit=limit,
before=before,
after=after,
actor=actor,
action=action,
resource=resource,
from_ms=from_ms,
to_ms=to_ms,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient | Client,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: int | Unset = UNSET,
    after: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    resource: str | Unset = UNSET,
    from_ms: int | Unset = UNSET,
    to_ms: int | Unset = UNSET,

) -> AuditPage | ErrorBody | None:
    """ The tenant's audit log

     Needs the `audit:read` permission.

    Args:
        order (str | Unset):
        limit (int | Unset):
        before (int | Unset):
        after (int | Unset):
        actor (str | Unset):
        action (str | Unset):
        resource (str | Unset):
        from_ms (int | Unset):
        to_ms (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | ErrorBody
     """


    return sync_detailed(
        client=client,
order=order,
limit=limit,
before=before,
after=after,
actor=actor,
action=action,
resource=resource,
from_ms=from_ms,
to_ms=to_ms,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: int | Unset = UNSET,
    after: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    resource: str | Unset = UNSET,
    from_ms: int | Unset = UNSET,
    to_ms: int | Unset = UNSET,

) -> Response[AuditPage | ErrorBody]:
    """ The tenant's audit log

     Needs the `audit:read` permission.

    Args:
        order (str | Unset):
        limit (int | Unset):
        before (int | Unset):
        after (int | Unset):
        actor (str | Unset):
        action (str | Unset):
        resource (str | Unset):
        from_ms (int | Unset):
        to_ms (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | ErrorBody]
     """


    kwargs = _get_kwargs(
        order=order,
limit=limit,
before=before,
after=after,
actor=actor,
action=action,
resource=resource,
from_ms=from_ms,
to_ms=to_ms,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    order: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: int | Unset = UNSET,
    after: int | Unset = UNSET,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    resource: str | Unset = UNSET,
    from_ms: int | Unset = UNSET,
    to_ms: int | Unset = UNSET,

) -> AuditPage | ErrorBody | None:
    """ The tenant's audit log

     Needs the `audit:read` permission.

    Args:
        order (str | Unset):
        limit (int | Unset):
        before (int | Unset):
        after (int | Unset):
        actor (str | Unset):
        action (str | Unset):
        resource (str | Unset):
        from_ms (int | Unset):
        to_ms (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | ErrorBody
     """


    return (await asyncio_detailed(
        client=client,
order=order,
limit=limit,
before=before,
after=after,
actor=actor,
action=action,
resource=resource,
from_ms=from_ms,
to_ms=to_ms,

    )).parsed
