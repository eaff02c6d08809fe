"""Connecting to Temporal (dev server, a cluster with mTLS, or Temporal Cloud with an API key)."""

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from config.settings import Settings
from encryption.payload_codec import EncryptionCodec, parse_keys
from store.complaint_keys import ComplaintKeys
from store.engine import make_engine, make_sessionmaker


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


def codec(settings: Settings, sessions: async_sessionmaker[AsyncSession] | None = None) -> EncryptionCodec:
    """With ``sessions``, complaints' payloads are under their own data keys (the store's
    complaint_keys) and a worker refuses payloads the product did not write. Without, the master
    key alone (tests replaying recorded histories, tools that read no store)."""
    keks = parse_keys(settings.effective_payload_keys())
    return EncryptionCodec(keks, ComplaintKeys(sessions, keks) if sessions is not None else None)


def store_sessions(settings: Settings) -> async_sessionmaker[AsyncSession]:
    """The codec's own pool (a process that has the store may pass its sessionmaker instead)."""
    return make_sessionmaker(make_engine(settings.effective_database_url))


def data_converter(settings: Settings, sessions: async_sessionmaker[AsyncSession] | None = None) -> DataConverter:
    """Pydantic payloads, encrypted; failure messages and stack traces encrypted too (they
    can quote a customer's words)."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec(settings, sessions),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, sessions: async_sessionmaker[AsyncSession] | None = None) -> Client:
    """The product's client: its codec reads complaints' data keys from the store."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=_tls(settings),
        data_converter=data_converter(settings, sessions or store_sessions(settings)),
    )
