from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.approval_list import ApprovalList
from ...models.approval_status import ApprovalStatus
from ...models.error_body import ErrorBody
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    status: ApprovalStatus | Unset = UNSET,
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
        "url": "/v1/approvals",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApprovalList | ErrorBody | None:
    if response.status_code == 200:
        response_200 = ApprovalList.from_dict(response.json())



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

    if response.status_code == 501:
        response_501 = ErrorBody.from_dict(response.json())



        return response_501

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ApprovalList | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: ApprovalStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> Response[ApprovalList | ErrorBody]:
    """ Approvals, newest first

     Needs the `approvals:read` permission.

    Args:
        status (ApprovalStatus | Unset): Status of an approval.
        limit (int | Unset):
        before (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApprovalList | ErrorBody]
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
    status: ApprovalStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> ApprovalList | ErrorBody | None:
    """ Approvals, newest first

     Needs the `approvals:read` permission.

    Args:
        status (ApprovalStatus | Unset): Status of an approval.
        limit (int | Unset):
        before (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApprovalList | ErrorBody
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
    status: ApprovalStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> Response[ApprovalList | ErrorBody]:
    """ Approvals, newest first

     Needs the `approvals:read` permission.

    Args:
        status (ApprovalStatus | Unset): Status of an approval.
        limit (int | Unset):
        before (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApprovalList | ErrorBody]
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
    status: ApprovalStatus | Unset = UNSET,
    limit: int | Unset = UNSET,
    before: str | Unset = UNSET,

) -> ApprovalList | ErrorBody | None:
    """ Approvals, newest first

     Needs the `approvals:read` permission.

    Args:
        status (ApprovalStatus | Unset): Status of an approval.
        limit (int | Unset):
        before (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApprovalList | ErrorBody
     """


    return (await asyncio_detailed(
        client=client,
status=status,
limit=limit,
before=before,

    )).parsed
