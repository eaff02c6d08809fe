"""Connecting to Temporal (dev server, a cluster with mTLS, or Temporal Cloud with an API key)."""

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter

from settings import Settings


def _tls(settings: Settings) -> TLSConfig | bool:
    if not (settings.temporal_tls or settings.temporal_tls_cert or settings.temporal_api_key):
        return False
    if not (settings.temporal_tls_cert or settings.temporal_tls_ca):
        return True
    read = lambda p: p.read_bytes() if p else None  # noqa: E731
    return TLSConfig(
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
        server_root_ca_cert=read(settings.temporal_tls_ca),
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=_tls(settings),
        data_converter=pydantic_data_converter,
    )
