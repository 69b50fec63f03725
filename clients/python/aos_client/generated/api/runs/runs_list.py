from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.run_list import RunList
from ...models.run_status import RunStatus
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    status: RunStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["limit"] = limit

    params["before"] = before


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | RunList | None:
    if response.status_code == 200:
        response_200 = RunList.from_dict(response.json())



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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ErrorBody | RunList]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: RunStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> Response[ErrorBody | RunList]:
    """ List runs, newest first

     Needs the `runs:read` permission.

    Args:
        status (RunStatus | Unset): Lifecycle of a run. `Running -> Running` is allowed: a run
            stays running while
            it moves from one step to the next.
        limit (int | Unset):
        before (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | RunList]
     """


    kwargs = _get_kwargs(
        status=status,
limit=limit,
before=before,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient | Client,
    status: RunStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> ErrorBody | RunList | None:
    """ List runs, newest first

     Needs the `runs:read` permission.

    Args:
        status (RunStatus | Unset): Lifecycle of a run. `Running -> Running` is allowed: a run
            stays running while
            it moves from one step to the next.
        limit (int | Unset):
        before (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | RunList
     """


    return sync_detailed(
        client=client,
status=status,
limit=limit,
before=before,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: RunStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> Response[ErrorBody | RunList]:
    """ List runs, newest first

     Needs the `runs:read` permission.

    Args:
        status (RunStatus | Unset): Lifecycle of a run. `Running -> Running` is allowed: a run
            stays running while
            it moves from one step to the next.
        limit (int | Unset):
        before (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | RunList]
     """


    kwargs = _get_kwargs(
        status=status,
limit=limit,
before=before,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    status: RunStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> ErrorBody | RunList | None:
    """ List runs, newest first

     Needs the `runs:read` permission.

    Args:
        status (RunStatus | Unset): Lifecycle of a run. `Running -> Running` is allowed: a run
            stays running while
            it moves from one step to the next.
        limit (int | Unset):
        before (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | RunList
     """


    return (await asyncio_detailed(
        client=client,
status=status,
limit=limit,
before=before,

    )).parsed
