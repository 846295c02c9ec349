"""Backends implementing the ports, chosen by the ``type`` of the configured backend.

Each kind is built by a factory that imports its backend only when called, so a command
that never talks to Microsoft Graph never imports msgraph (importing it costs seconds).
"""

from __future__ import annotations

from collections.abc import Callable

from automation.config.loader import LoadedConfig
from automation.config.models import GraphBackend, LocalBackend
from automation.errors import ConfigError
from automation.ports import Backend, ListProvisioner, WorkbookProvisioner

BackendFactory = Callable[[LoadedConfig], Backend]


def _local(loaded: LoadedConfig) -> Backend:
    from automation.backends.local import local_backend  # noqa: PLC0415

    config = loaded.config.backend
    if not isinstance(config, LocalBackend):
        raise ConfigError(f"backend.type is {config.type!r}, not 'local'")
    return local_backend(loaded, config)


def _graph(loaded: LoadedConfig) -> Backend:
    from automation.backends.graph import tls  # noqa: PLC0415

    tls.prepare()  # made while the Graph libraries below load
    from automation.backends.graph.backend import graph_backend  # noqa: PLC0415

    config = loaded.config.backend
    if not isinstance(config, GraphBackend):
        raise ConfigError(f"backend.type is {config.type!r}, not 'graph'")
    return graph_backend(loaded, config)


FACTORIES: dict[str, BackendFactory] = {"local": _local, "graph": _graph}


def configured_backend(loaded: LoadedConfig) -> Backend:
    """The ports of the configured backend, built by the factory of its kind."""
    kind = loaded.config.backend.type
    factory = FACTORIES.get(kind)
    if factory is None:
        known = ", ".join(sorted(FACTORIES))
        raise ConfigError(f"backend.type {kind!r} has no backend; known types: {known}")
    return factory(loaded)


def configured_provisioner(loaded: LoadedConfig) -> WorkbookProvisioner:
    """Where ``automation provision`` creates inputs: the workbook folder (local) or the
    tenant (Graph, imported only then)."""
    config = loaded.config.backend
    if isinstance(config, GraphBackend):
        from automation.backends.graph.backend import graph_gateway  # noqa: PLC0415
        from automation.backends.graph.provision import GraphProvisioner  # noqa: PLC0415

        return GraphProvisioner(graph_gateway(loaded, config))
    from automation.backends.local import LocalProvisioner  # noqa: PLC0415

    return LocalProvisioner(loaded.resolve(config.root))


def configured_list_provisioner(loaded: LoadedConfig, id_column: str) -> ListProvisioner:
    """Where ``automation provision list`` creates a list: a file under the local backend's
    root (``id_column`` first), or a SharePoint list through Graph."""
    config = loaded.config.backend
    if isinstance(config, GraphBackend):
        from automation.backends.graph.backend import graph_gateway  # noqa: PLC0415
        from automation.backends.graph.provision import GraphListProvisioner  # noqa: PLC0415

        return GraphListProvisioner(graph_gateway(loaded, config))
    from automation.backends.local import LocalListProvisioner  # noqa: PLC0415

    return LocalListProvisioner(loaded.resolve(config.root), id_column)
