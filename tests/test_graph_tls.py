"""The Graph client's TLS context, made while the Graph libraries load (backends.graph.tls)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from automation.backends.graph import tls


@pytest.fixture(autouse=True)
def nothing_made_ahead() -> None:
    """Each spec starts with no context waiting (another spec's is taken and dropped, once
    its thread has ended: one still making it would leave it here mid-spec)."""
    thread = tls._made.get("thread")
    if thread is not None:
        thread.join()
    tls._made.clear()


def facts(context: ssl.SSLContext) -> tuple[object, ...]:
    """What decides whom a context trusts and how it talks."""
    return (
        context.verify_mode,
        context.check_hostname,
        context.options,
        context.minimum_version,
        context.verify_flags,
        context.cert_store_stats(),
        sorted(c["serialNumber"] for c in context.get_ca_certs()),
    )


@pytest.mark.parametrize("variable", [None, "SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_the_context_made_ahead_is_the_one_httpx_makes(
    variable: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The context made ahead trusts and verifies as httpx's default one, environment included."""
    import certifi  # noqa: PLC0415
    import httpx  # noqa: PLC0415

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if variable == "SSL_CERT_FILE":  # five authorities only: not certifi's bundle
        end = "-----END CERTIFICATE-----\n"
        five = Path(certifi.where()).read_text().split(end)[:5]
        bundle = tmp_path / "bundle.pem"
        bundle.write_text("".join(cert + end for cert in five))
        monkeypatch.setenv(variable, str(bundle))
    elif variable == "SSL_CERT_DIR":
        monkeypatch.setenv(variable, str(tmp_path))
    tls.prepare()
    made = tls.context()
    assert made.verify_mode == ssl.CERT_REQUIRED and made.check_hostname
    assert facts(made) == facts(httpx.create_ssl_context())


def test_the_first_gateway_takes_the_context_made_ahead_and_the_next_a_new_one() -> None:
    """context() hands the one made ahead out once; after that each call makes its own."""
    tls.prepare()
    tls.prepare()  # a second prepare while one waits makes nothing more
    first, second = tls.context(), tls.context()
    assert first is not second
    assert tls._made == {}


def test_an_error_making_it_ahead_is_raised_where_the_gateway_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate bundle that cannot be read fails the gateway's build, as httpx would."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    tls.prepare()
    with pytest.raises(OSError):
        tls.context()
    assert tls._made == {}


GRAPH_CONFIG = """\
version: 1
state: {path: state/db.sqlite}
backend:
  type: graph
  auth: {type: access_token, token: not-a-real-token}
  mailbox: bousai@example.jp
directory:
  departments: [{name: 危機管理課, sheet: 危機管理課}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: {drive_id: b!drive, item_id: 01BOOK}
      report_to: [{channel: mail, address: bousai@example.jp}]
"""


def test_a_graph_backend_takes_the_context_made_while_its_libraries_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building a Graph backend starts the context first; its gateway takes that one."""
    from automation.backends import configured_backend  # noqa: PLC0415
    from automation.config.loader import load_config  # noqa: PLC0415

    path = tmp_path / "automation.yaml"
    path.write_text(GRAPH_CONFIG, encoding="utf-8")
    started: list[str] = []
    prepare = tls.prepare
    monkeypatch.setattr(tls, "prepare", lambda: (started.append("prepare"), prepare())[-1])
    configured_backend(load_config(path))
    assert started == ["prepare"]
    assert tls._made == {}  # taken by the gateway, not left waiting
