"""Configuration of the Graph backend: references match the backend, secrets from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from automation.config.loader import ConfigValidationError, load_config

CONFIG_DIR = Path(__file__).parent.parent / "config"
TEAM = "00000000-0000-0000-0000-00000000a001"
CHANNEL = "19:0000000000000000000000000000a002@thread.tacv2"
ENVIRON = {
    "GRAPH_TENANT_ID": "tenant",
    "GRAPH_CLIENT_ID": "client",
    "GRAPH_CERT_PASSWORD": "pw",
    "BOUSAI_TEAM_ID": TEAM,
    "BOUSAI_CHANNEL_ID": CHANNEL,
    "DX_SITE_ID": "site",
    "DX_LIST_ID": "list",
    "BOUSAI_TEAMS_WEBHOOK_URL": "https://example.invalid/hook",
}

GRAPH = """\
version: 1
backend:
  type: graph
  auth: {{type: access_token, token: t}}
{mailbox}
directory:
  departments: [{{name: 総務部, sheet: 総務部}}]
flows:
  - id: damage
    kind: damage_rollup
    params:
      disaster: 台風
      workbook: {workbook}
      report_to: [{{channel: {channel}, address: "{address}"}}]
"""


def problems(
    tmp_path: Path,
    workbook: str,
    channel: str = "mail",
    mailbox: str = "  mailbox: m@example.jp",
    address: str = "a@example.jp",
) -> list[str]:
    """Problems of a Graph configuration with the given workbook and report channel."""
    path = tmp_path / "c.yaml"
    path.write_text(
        GRAPH.format(workbook=workbook, channel=channel, mailbox=mailbox, address=address),
        encoding="utf-8",
    )
    try:
        load_config(path)
    except ConfigValidationError as err:
        return [f"{p.path}: {p.message}" for p in err.problems]
    return []


def test_graph_example_is_valid() -> None:
    """config/graph.example.yaml validates once its environment variables are set."""
    loaded = load_config(CONFIG_DIR / "graph.example.yaml", environ=ENVIRON)
    assert loaded.config.backend.type == "graph"


def test_graph_example_holds_no_ids_or_secrets() -> None:
    """Tenant ids, client ids, passwords and webhook URLs come from the environment."""
    text = (CONFIG_DIR / "graph.example.yaml").read_text(encoding="utf-8")
    assert "${GRAPH_TENANT_ID}" in text and "${GRAPH_CERT_PASSWORD}" in text
    assert "https://prod" not in text and "sig=" not in text


@pytest.mark.parametrize(
    "workbook",
    [
        "{drive_id: d, item_id: i}",
        f"{{team_id: {TEAM}, channel_id: '{CHANNEL}', path: a.xlsx}}",
        "{site_id: s, path: a.xlsx}",
    ],
)
def test_each_file_reference_form_is_accepted(tmp_path: Path, workbook: str) -> None:
    """Drive ids, a channel path or a site path address the workbook."""
    assert problems(tmp_path, workbook) == []


def test_a_path_is_not_a_graph_reference(tmp_path: Path) -> None:
    """On Graph, a bare path is an error that lists the accepted forms."""
    assert problems(tmp_path, "book.xlsx") == [
        "flows[0].params.workbook: with backend.type: graph, give the workbook as "
        "{drive_id, item_id}, {team_id, channel_id, path} or {site_id, path}, not a path"
    ]


def test_an_incomplete_reference_names_only_its_own_form(tmp_path: Path) -> None:
    """A channel reference missing its path is reported as that, not as every other form."""
    assert problems(tmp_path, f"{{team_id: {TEAM}, channel_id: '{CHANNEL}'}}") == [
        "flows[0].params.workbook.path: required key 'path' is missing here; "
        "add it (Path inside the channel folder)"
    ]


def test_mail_needs_a_mailbox(tmp_path: Path) -> None:
    """Mail contacts on Graph need backend.mailbox (the mailbox allowed to send)."""
    assert problems(tmp_path, "{drive_id: d, item_id: i}", mailbox="") == [
        "backend: mail contacts are configured but backend.mailbox is not; set the mailbox (UPN) that sends mail"
    ]


def test_teams_channel_posts_need_the_service_account(tmp_path: Path) -> None:
    """App-only Graph cannot post to channels: teams_channel contacts need service_account."""
    found = problems(
        tmp_path, "{drive_id: d, item_id: i}", channel="teams_channel", address=f"{TEAM}/{CHANNEL}"
    )
    assert found == [
        "backend: teams_channel contacts are configured but backend.service_account is not; "
        "app-only Graph cannot post to channels: add service_account: {type: device_code, "
        "tenant_id, client_id} and run `automation login`, or use teams_webhook or mail"
    ]


def test_a_teams_channel_address_names_team_and_channel(tmp_path: Path) -> None:
    """A teams_channel address without the TEAM_ID/ prefix is refused with the form to use."""
    found = problems(tmp_path, "{drive_id: d, item_id: i}", channel="teams_channel")
    assert found[0].startswith(
        "flows[0].params.report_to[0].address: a teams_channel address is TEAM_ID/CHANNEL_ID"
    )
