from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.flag_evaluation import FlagEvaluation
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    key: str,
    *,
    id: str,
    environment: str | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["id"] = id

    params["environment"] = environment


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/flags/{key}/evaluate".format(key=quote(str(key), safe=""),),
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | FlagEvaluation | None:
    if response.status_code == 200:
        response_200 = FlagEvaluation.from_dict(response.json())



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

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())



        return response_404

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ErrorBody | FlagEvaluation]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    key: str,
    *,
    client: AuthenticatedClient | Client,
    id: str,
    environment: str | Unset = UNSET,

) -> Response[ErrorBody | FlagEvaluation]:
    """ What a flag says for a stable key

     Any other query parameter is an attribute its rules may test.

    Needs the `flags:read` permission.

    Args:
        key (str):
        id (str):
        environment (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | FlagEvaluation]
     """


    kwargs = _get_kwargs(
        key=key,
id=id,
environment=environment,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    key: str,
    *,
    client: AuthenticatedClient | Client,
    id: str,
    environment: str | Unset = UNSET,

) -> ErrorBody | FlagEvaluation | None:
    """ What a flag says for a stable key

     Any other query parameter is an attribute its rules may test.

    Needs the `flags:read` permission.

    Args:
        key (str):
        id (str):
        environment (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | FlagEvaluation
     """


    return sync_detailed(
        key=key,
client=client,
id=id,
environment=environment,

    ).parsed

async def asyncio_detailed(
    key: str,
    *,
    client: AuthenticatedClient | Client,
    id: str,
    environment: str | Unset = UNSET,

) -> Response[ErrorBody | FlagEvaluation]:
    """ What a flag says for a stable key

     Any other query parameter is an attribute its rules may test.

    Needs the `flags:read` permission.

    Args:
        key (str):
        id (str):
        environment (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | FlagEvaluation]
     """


    kwargs = _get_kwargs(
        key=key,
id=id,
environment=environment,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    key: str,
    *,
    client: AuthenticatedClient | Client,
    id: str,
    environment: str | Unset = UNSET,

) -> ErrorBody | FlagEvaluation | None:
    """ What a flag says for a stable key

     Any other query parameter is an attribute its rules may test.

    Needs the `flags:read` permission.

    Args:
        key (str):
        id (str):
        environment (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | FlagEvaluation
     """


    return (await asyncio_detailed(
        key=key,
client=client,
id=id,
environment=environment,

    )).parsed
