"""imgsvc: a client of the image service, for scripts (``Client``) and people (the ``imgsvc`` command).

Example::

    from imgsvc import Client, UploadRefused

    with Client(api_url, token) as client:
        try:
            image = client.upload(Path("cat.jpg"), tags=["cat"], visibility="public")
        except UploadRefused as refused:
            print("refused:", refused.reason)
"""

from imgsvc.client import Client, StorageError
from imgsvc.errors import (
    ApiError,
    ConfigurationError,
    Conflict,
    Forbidden,
    ImgsvcError,
    InvalidParameter,
    NetworkError,
    NotFound,
    ProcessingTimeout,
    RateLimited,
    ServiceError,
    Unauthorized,
    UploadRefused,
)
from imgsvc.models import Image, Page, Status, UploadTicket, Variant, Visibility

__all__ = [
    "ApiError",
    "Client",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "Image",
    "ImgsvcError",
    "InvalidParameter",
    "NetworkError",
    "NotFound",
    "Page",
    "ProcessingTimeout",
    "RateLimited",
    "ServiceError",
    "Status",
    "StorageError",
    "Unauthorized",
    "UploadRefused",
    "UploadTicket",
    "Variant",
    "Visibility",
]
