"""Connecting to Temporal (dev server, a cluster with mTLS, or Temporal Cloud with an API key)."""

import dataclasses

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from config.settings import Settings
from encryption.payload_codec import EncryptionCodec, parse_keys


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


def codec(settings: Settings) -> EncryptionCodec:
    return EncryptionCodec(parse_keys(settings.effective_payload_keys()))


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted; failure messages and stack traces encrypted too (they
    can quote a customer's words)."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=_tls(settings),
        data_converter=data_converter(settings),
    )
