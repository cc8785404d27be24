"""Lazy import of Kinova's kortex_api, so the rest of the stack never needs it.

kortex_api is distributed by Kinova as a wheel on their artifactory, not on PyPI, so it
cannot be a hard dependency: the sim, the demo and the tests must run without it. The
names gathered here are the complete call surface the adapter (`arm.py`) uses.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = (
    "Kinova's Python API (kortex_api) is not installed; it is not on PyPI. Install Kinova's wheel: "
    "`python -m pip install --no-deps https://artifactory.kinovaapps.com/artifactory/generic-public/"
    "kortex/API/2.6.0/kortex_api-2.6.0.post3-py3-none-any.whl protobuf==3.20.3` (the wheel pins "
    "protobuf 3.5, which does not import on Python >= 3.10; see github.com/Kinovarobotics/kortex)."
)


class KortexApiMissing(ImportError):
    """kortex_api cannot be imported; the message says how to install it."""


@dataclass(frozen=True)
class KortexApi:
    """The kortex_api classes and message modules the adapter uses (real or test double)."""
    TCPTransport: Any
    UDPTransport: Any
    RouterClient: Any
    RouterClientSendOptions: Any
    SessionManager: Any
    BaseClient: Any
    BaseCyclicClient: Any
    Session_pb2: Any
    Base_pb2: Any
    BaseCyclic_pb2: Any


def _patch_collections_for_old_protobuf() -> None:
    # kortex_api pins protobuf 3.x, which still reaches for collections.MutableMapping
    # (removed in Python 3.10); Kinova's own examples apply the same alias.
    for name in ("MutableMapping", "MutableSequence"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


def load_kortex_api() -> KortexApi:
    """Import kortex_api now (not at module import), or raise KortexApiMissing with the fix."""
    _patch_collections_for_old_protobuf()
    try:
        tcp = importlib.import_module("kortex_api.TCPTransport")
        udp = importlib.import_module("kortex_api.UDPTransport")
        router = importlib.import_module("kortex_api.RouterClient")
        session = importlib.import_module("kortex_api.SessionManager")
        base_rpc = importlib.import_module("kortex_api.autogen.client_stubs.BaseClientRpc")
        cyclic_rpc = importlib.import_module("kortex_api.autogen.client_stubs.BaseCyclicClientRpc")
        messages = importlib.import_module("kortex_api.autogen.messages")
        session_pb2 = importlib.import_module("kortex_api.autogen.messages.Session_pb2")
        base_pb2 = importlib.import_module("kortex_api.autogen.messages.Base_pb2")
        cyclic_pb2 = importlib.import_module("kortex_api.autogen.messages.BaseCyclic_pb2")
    except ImportError as exc:
        raise KortexApiMissing(f"{INSTALL_HINT} (import error: {exc})") from exc
    del messages
    return KortexApi(
        TCPTransport=tcp.TCPTransport, UDPTransport=udp.UDPTransport,
        RouterClient=router.RouterClient, RouterClientSendOptions=router.RouterClientSendOptions,
        SessionManager=session.SessionManager,
        BaseClient=base_rpc.BaseClient, BaseCyclicClient=cyclic_rpc.BaseCyclicClient,
        Session_pb2=session_pb2, Base_pb2=base_pb2, BaseCyclic_pb2=cyclic_pb2,
    )
