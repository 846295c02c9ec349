"""Pydantic models of the YAML configuration (``version: 1``).

Every model forbids unknown keys, so a typo is an error with its line, not a silently
ignored setting. A flow's ``kind`` selects the model of its ``params``.
"""

import hashlib
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from automation.config.values import (
    channel_address_problem,
    channel_id_problem,
    mail_address_problem,
    team_id_problem,
    webhook_problem,
)


class PlacedValueError(ValueError):
    """A validator's complaint about one part of the value, e.g. the second list item.

    Pydantic reports a validator's error at the whole field; ``at`` is the path inside it
    (``(1,)``, ``("departments", 2, "name")``) so the problem points at the culprit's line.
    """

    def __init__(self, message: str, at: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.at = at


class Model(BaseModel):
    """Base: unknown keys are errors; values are immutable after validation.

    ``defer_build``: a model's validator is built when first used, not when its class is
    defined. Built eagerly, each of the ~40 classes built its own schema with its nested
    models inlined again (about 0.15 s of every command's start); deferred, a command builds
    the one tree it validates."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


Channel = Literal["mail", "teams_channel", "teams_webhook"]


def webhook_ref(url: str) -> str:
    """A stable, non-secret stand-in for a webhook URL."""
    return "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:24]


class Mention(Model):
    """A person @mentioned in a Teams channel post (by Entra ID object id)."""

    user_id: str = Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="The user's object id (Entra admin center -> Users -> the user -> Object ID).",
    )
    name: str = Field(min_length=1, description="Shown in the post, e.g. 山田 太郎.")


class Contact(Model):
    """Where a message goes: a mailbox, a Teams channel, or a Teams Workflows webhook."""

    channel: Channel = Field(description="mail | teams_channel | teams_webhook")
    address: str = Field(
        min_length=1,
        description="Mail address, Teams channel as TEAM_ID/CHANNEL_ID, or webhook URL "
        "(use ${ENV_VAR}).",
    )
    name: str | None = Field(default=None, description="Display name used in greetings.")
    mentions: tuple[Mention, ...] = Field(
        default=(), description="teams_channel: people @mentioned at the top of each post."
    )
    mention_channel: bool = Field(
        default=False, description="teams_channel: @mention the whole channel."
    )

    @model_validator(mode="after")
    def _channel_rules(self) -> Self:
        if self.channel != "teams_channel" and (self.mentions or self.mention_channel):
            raise ValueError("mentions and mention_channel are only for teams_channel contacts")
        check = {
            "mail": mail_address_problem,
            "teams_channel": channel_address_problem,
            "teams_webhook": webhook_problem,
        }[self.channel]
        problem = check(self.address)
        if problem is not None:
            raise PlacedValueError(problem, ("address",))
        return self

    @property
    def stored_address(self) -> str:
        """The address as kept in the state database: webhook URLs are secrets, so only a
        digest is stored and the URL is looked up in the configuration when sending."""
        if self.channel == "teams_webhook":
            return webhook_ref(self.address)
        return self.address

    @property
    def label(self) -> str:
        """How the recipient is shown in logs and run records (webhook URLs are secrets)."""
        if self.channel == "teams_webhook":
            return self.name or "teams-webhook"
        return self.address


class Department(Model):
    """A department (部局/課) in the directory shared by all flows."""

    name: str = Field(min_length=1, description="Department name as people say it.")
    sheet: str | None = Field(default=None, description="Its sheet in the damage workbook.")
    contacts: tuple[Contact, ...] = Field(default=(), description="Where its messages go.")
    dx_leaders: tuple[Contact, ...] = Field(
        default=(), description="DX推進リーダー: reminded of missing progress entries."
    )
    escalation: tuple[Contact, ...] = Field(
        default=(), description="Escalation contact (e.g. the department head) after a deadline."
    )


class Directory(Model):
    """The department directory."""

    departments: tuple[Department, ...]

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[str] = set()
        for index, dept in enumerate(self.departments):
            if dept.name in seen:
                raise PlacedValueError(
                    f"department {dept.name!r} is listed twice; remove one of the entries "
                    "(or merge their contacts into one)",
                    ("departments", index, "name"),
                )
            seen.add(dept.name)
        return self

    def sheets(self) -> dict[str, str]:
        """Each department's configured sheet, by department (those with one)."""
        return {d.name: d.sheet for d in self.departments if d.sheet}

    def get(self, name: str) -> Department | None:
        """The department with this name, if listed."""
        return next((d for d in self.departments if d.name == name), None)


class StateConfig(Model):
    """Where run history, snapshots and the outbox are kept."""

    path: Path = Field(
        default=Path("state/automation.sqlite"),
        description="SQLite file; with a url, its folder still holds locks and cached artefacts.",
    )
    url: str | None = Field(
        default=None,
        description="The database instead of the file: sqlite:///path or "
        "postgresql+psycopg://user:${PGPASSWORD}@host:5432/db (PostgreSQL lets two daemons "
        "run as an active/standby pair). Use ${ENV_VAR} for the password.",
    )


class LocalBackend(Model):
    """A folder standing in for the tenant: workbooks in, artefacts and deliveries out."""

    type: Literal["local"] = "local"
    root: Path = Field(default=Path("."), description="Folder holding the input workbooks.")
    artefacts: Path = Field(default=Path("artefacts"), description="Where merged workbooks go.")
    deliveries: Path = Field(default=Path("deliveries"), description="Where messages are written.")


class CertificateAuth(Model):
    """App-only sign-in with a certificate (recommended)."""

    type: Literal["certificate"]
    tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    certificate_path: Path = Field(description="PEM or PKCS12 file with the private key.")
    certificate_password: str | None = Field(default=None, description="Use ${ENV_VAR}.")


class ClientSecretAuth(Model):
    """App-only sign-in with a client secret."""

    type: Literal["client_secret"]
    tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1, description="Use ${ENV_VAR}; never write it here.")


class ManagedIdentityAuth(Model):
    """The Azure managed identity of the host (Azure-hosted deployments only)."""

    type: Literal["managed_identity"]
    client_id: str | None = Field(default=None, description="User-assigned identity, if any.")


class AccessTokenAuth(Model):
    """A bearer token from the environment: manual checks and loopback test servers."""

    type: Literal["access_token"]
    token: str = Field(min_length=1, description="Use ${ENV_VAR}.")


GraphAuth = Annotated[
    CertificateAuth | ClientSecretAuth | ManagedIdentityAuth | AccessTokenAuth,
    Field(discriminator="type"),
]


class GraphLimits(Model):
    """Client-side limits that keep us under Microsoft 365's throttling thresholds."""

    mails_per_minute: int = Field(default=30, ge=1, description="Exchange: about 30 per mailbox.")
    webhook_posts_per_second: float = Field(default=4, gt=0, description="Teams webhooks: 4/s.")
    channel_posts_per_second: float = Field(
        default=4, gt=0, description="Graph: 4 posts per second per app in one channel."
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Idempotent requests (reads, uploads) are tried at most max_retries + 1 times.",
    )
    mail_max_mb: float = Field(
        default=35,
        gt=0,
        le=150,
        description="The sending mailbox's message size limit (Exchange Online: 35 MB by "
        "default, up to 150 MB); a larger attachment is linked instead of attached.",
    )


class DeviceCodeAccount(Model):
    """The Teams service account, signed in once with ``automation login`` (device code).

    A licensed user who is a member of the teams it posts to. The app registration (it may
    be the daemon's own) allows public client flows and has the delegated permissions
    ChannelMessage.Send and ChannelMessage.Read.All.
    """

    type: Literal["device_code"]
    tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    cache_name: str = Field(
        default="m365-automation",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Name of the persisted token cache (~/.IdentityService/NAME.cae on Linux).",
    )


class AccessTokenAccount(Model):
    """A delegated bearer token from the environment (manual checks, loopback test servers)."""

    type: Literal["access_token"]
    token: str = Field(min_length=1, description="Use ${ENV_VAR}.")


ServiceAccount = Annotated[DeviceCodeAccount | AccessTokenAccount, Field(discriminator="type")]


class GraphBackend(Model):
    """Microsoft Graph: the tenant itself."""

    type: Literal["graph"]
    base_url: str = Field(
        default="https://graph.microsoft.com/v1.0",
        description="Graph endpoint (national clouds, or a loopback test server).",
    )
    auth: GraphAuth
    mailbox: str | None = Field(default=None, description="Mailbox that sends mail (UPN).")
    service_account: ServiceAccount | None = Field(
        default=None, description="Signs Teams channel posts (teams_channel contacts)."
    )
    limits: GraphLimits = Field(default_factory=GraphLimits)

    @field_validator("mailbox")
    @classmethod
    def _one_address(cls, value: str | None) -> str | None:
        problem = None if value is None else mail_address_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


Backend = Annotated[LocalBackend | GraphBackend, Field(discriminator="type")]


class DriveFile(Model):
    """A file in SharePoint/OneDrive, addressed by drive and item ids."""

    drive_id: str = Field(min_length=1)
    item_id: str = Field(min_length=1)


class ChannelFile(Model):
    """A file in a Teams channel's files, by team, channel and path in the channel folder."""

    team_id: str = Field(min_length=1, description="The team's group id (a GUID).")
    channel_id: str = Field(min_length=1, description="19:...@thread.tacv2")
    path: str = Field(min_length=1, description="Path inside the channel folder.")

    @field_validator("team_id")
    @classmethod
    def _team_shape(cls, value: str) -> str:
        problem = team_id_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("channel_id")
    @classmethod
    def _channel_shape(cls, value: str) -> str:
        problem = channel_id_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class SiteFile(Model):
    """A file in a site's default document library, by path."""

    site_id: str = Field(min_length=1)
    path: str = Field(min_length=1)


def _file_tag(value: object) -> str:
    """Pick the file reference form by its keys, so errors speak of that form only."""
    if isinstance(value, dict):
        if "team_id" in value or "channel_id" in value:
            return "channel-file"
        if "site_id" in value:
            return "site-file"
        return "drive-file"
    if isinstance(value, DriveFile | ChannelFile | SiteFile):
        return {DriveFile: "drive-file", ChannelFile: "channel-file", SiteFile: "site-file"}[
            type(value)
        ]
    return "file-path"


FileRef = Annotated[
    Annotated[str, Tag("file-path")]
    | Annotated[DriveFile, Tag("drive-file")]
    | Annotated[ChannelFile, Tag("channel-file")]
    | Annotated[SiteFile, Tag("site-file")],
    Discriminator(_file_tag),
]


class SiteList(Model):
    """A SharePoint list by site and list id (or name)."""

    site_id: str = Field(min_length=1)
    list_id: str = Field(min_length=1)
    period_indexed: bool = Field(
        default=False, description="The period column is indexed: filter on it server-side."
    )


ListRef = Annotated[
    Annotated[str, Tag("list-path")] | Annotated[SiteList, Tag("site-list")],
    Discriminator(lambda value: "site-list" if isinstance(value, dict | SiteList) else "list-path"),
]

# Union tags pydantic puts into error locations; they are not keys of the YAML.
UNION_TAGS = frozenset(
    {"file-path", "drive-file", "channel-file", "site-file", "list-path", "site-list"}
)


class MatrixLayout(Model):
    """One row per municipality, one column per item (headers may be 2-3 rows, merged)."""

    type: Literal["matrix"] = "matrix"
    key_headers: tuple[str, ...] = Field(
        default=("市町村", "市町村名", "市区町村", "市区町村名", "地域"),
        description="Header of the municipality column (any of these).",
    )


class RecordsLayout(Model):
    """One row per incident (e.g. a road closure), counted per item and status."""

    type: Literal["records"] = "records"
    type_column: tuple[str, ...] = Field(default=("被害種別", "種別", "区分"))
    municipality_column: tuple[str, ...] = Field(default=("市町村", "市町村名", "所在市町村"))
    status_column: tuple[str, ...] = Field(default=("状況", "状態", "対応状況"))
    statuses: tuple[str, ...] | None = Field(
        default=None, description="Allowed status values; anything else is a data problem."
    )
    id_column: tuple[str, ...] = Field(
        default=("No", "No.", "番号", "整理番号", "管理番号"),
        description="The incident's number: how an incident is followed from report to report.",
    )
    place_columns: tuple[str, ...] = Field(
        default=("路線・河川名", "路線名", "河川名", "施設名", "箇所", "場所", "所在地", "箇所名"),
        description="Columns that say where an incident is, joined in sheet order.",
    )
    closed_statuses: tuple[str, ...] = Field(
        default=("規制解除", "解除", "復旧", "復旧済み", "完了", "対応済み", "解消"),
        description="Statuses of an incident that is over (not listed as open in the report).",
    )


Layout = Annotated[MatrixLayout | RecordsLayout, Field(discriminator="type")]


class ItemSpec(Model):
    """An item an admin adds to the catalogue."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    category: str = Field(default="その他")
    aliases: tuple[str, ...] = ()


class CatalogueConfig(Model):
    """Restrict or extend the default FDMA item catalogue."""

    only: tuple[str, ...] | None = Field(default=None, description="Keep only these codes.")
    exclude: tuple[str, ...] = Field(default=(), description="Drop these codes.")
    extra: tuple[ItemSpec, ...] = Field(default=(), description="Add these items.")


def _quoted_time(value: object) -> object:
    """YAML 1.1 reads an unquoted ``10:30`` as the number 630; refuse it instead of 00:10:30."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        hours, minutes = divmod(value, 60)
        raise ValueError(
            f"YAML read the unquoted time as the number {value}; "
            f"quote it: '{hours:02d}:{minutes:02d}'"
        )
    return value


class Deadlines(Model):
    """Reporting deadlines (JST): fixed times of day, or every N hours from midnight."""

    times: tuple[Annotated[time, BeforeValidator(_quoted_time)], ...] = Field(
        default=(), description='Times of day, e.g. ["09:00", "15:00"].'
    )
    every_hours: int | None = Field(
        default=None, ge=1, le=24, description="E.g. 3 means 0時, 3時, ... 21時."
    )
    remind_minutes_before: int = Field(default=30, ge=1, le=24 * 60)
    since: datetime | None = Field(default=None, description="No deadline before this time.")

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        if self.times and self.every_hours is not None:
            raise ValueError("give exactly one of 'times' or 'every_hours', not both; remove one")
        if not self.times and self.every_hours is None:
            raise ValueError(
                "give exactly one of 'times' or 'every_hours'; add one, "
                "e.g. every_hours: 3 or times: ['09:00', '15:00']"
            )
        return self


class DamageRollupParams(Model):
    """Parameters of a ``damage_rollup`` flow."""

    disaster: str = Field(min_length=1, description="Disaster name, e.g. 令和8年台風第10号.")
    workbook: FileRef = Field(
        description="Local: path under the backend root. Graph: {drive_id, item_id}, "
        "{team_id, channel_id, path} or {site_id, path}."
    )
    departments: tuple[str, ...] | None = Field(
        default=None, description="Departments that report (default: all with a sheet)."
    )
    layouts: dict[str, Layout] = Field(default_factory=dict, description="Per-department layout.")
    default_layout: Layout = Field(default_factory=MatrixLayout)
    municipalities: tuple[str, ...] | None = Field(
        default=None, description="Known municipality names; other row names are data problems."
    )
    report_to: tuple[Contact, ...] = Field(min_length=1, description="The response team.")
    deadlines: Deadlines | None = None
    feedback: bool = Field(default=True, description="Send each changed department its feedback.")
    catalogue: CatalogueConfig = Field(default_factory=CatalogueConfig)
    max_workbook_mb: float = Field(default=25.0, gt=0)
    artefact_name: str = Field(default="被害状況集計_第{number}報.xlsx")
    templates: Path | None = Field(default=None, description="Folder of template overrides.")
    sheet_password: str | None = Field(
        default=None,
        min_length=1,
        description="Password of the sheet protection `automation provision workbook` sets "
        "(default: protected without one); use ${ENV_VAR}, never the password itself.",
    )

    @field_validator("artefact_name")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if "{number}" not in value or not value.endswith(".xlsx"):
            raise ValueError(
                f"must contain {{number}} and end with .xlsx (got {value!r}); "
                "write e.g. 被害状況集計_第{number}報.xlsx"
            )
        return value


def _crontab(expression: str) -> str:
    from automation.schedule import EXAMPLE, parse_cron  # noqa: PLC0415  # keeps models import light

    try:
        parse_cron(expression)
    except ValueError as err:
        if "e.g." in str(err) or "write" in str(err):
            raise
        raise ValueError(f"{err}; write minute hour day month weekday, {EXAMPLE}") from None
    return expression


class Schedule(Model):
    """When ``automation serve`` runs a flow (Asia/Tokyo; Japan has no daylight saving)."""

    cron: tuple[Annotated[str, AfterValidator(_crontab)], ...] = Field(
        default=(),
        description="Crontab expressions (minute hour day month weekday; 0/7 = Sunday), "
        'e.g. ["*/1 * * * *"] or ["0 9 * * mon-fri"].',
    )
    every_seconds: int | None = Field(
        default=None, ge=1, description="Or a fixed interval in seconds (drills, tests)."
    )
    business_days_only: bool = Field(
        default=False,
        description="Skip weekends, national holidays and 12/29-1/3 (the fiscal calendar).",
    )
    misfire_grace_minutes: int = Field(
        default=180,
        ge=0,
        description="After downtime a missed run is made up once if it is at most this late.",
    )

    @field_validator("cron", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        if self.cron and self.every_seconds is not None:
            raise ValueError("give exactly one of 'cron' or 'every_seconds', not both; remove one")
        return self

    @property
    def given(self) -> bool:
        """Whether a rule (cron or every_seconds) was written; the flow kind decides if not."""
        return bool(self.cron) or self.every_seconds is not None


# A damage flow whose schedule gives no rule polls its workbook this often: an unchanged
# workbook costs one conditional request, so a short interval keeps save-to-report latency
# low for almost nothing.
DAMAGE_POLL_SECONDS = 30


def _schedule_rule_required(schedule: Schedule | None) -> Schedule | None:
    if schedule is not None and not schedule.given:
        raise ValueError(
            "give exactly one of 'cron' or 'every_seconds'; add one, "
            "e.g. cron: '0 9 * * mon-fri' or every_seconds: 3600"
        )
    return schedule


class DamageRollupFlow(Model):
    """A flow consolidating departments' damage sheets into numbered reports."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="Used on the command line.")
    kind: Literal["damage_rollup"]
    description: str | None = None
    schedule: Schedule | None = Field(
        default=None,
        description="For `automation serve`; with neither cron nor every_seconds, the "
        f"workbook is polled every {DAMAGE_POLL_SECONDS} s.",
    )
    params: DamageRollupParams

    @field_validator("schedule")
    @classmethod
    def _poll_by_default(cls, schedule: Schedule | None) -> Schedule | None:
        if schedule is not None and not schedule.given:
            return schedule.model_copy(update={"every_seconds": DAMAGE_POLL_SECONDS})
        return schedule


class ListFields(Model):
    """Which list columns (display names, as people see them) hold what."""

    id: str = Field(default="ID", description="Item id column (local lists).")
    link: str | None = Field(default="リンク", description="Column with the item's URL, if any.")
    modified: str | None = Field(
        default="更新日時", description="Column with the last change, if any."
    )
    period: str = Field(
        default="対象期間", description="Column naming the period (2026上期, R8上期, 2026H1)."
    )
    department: str = Field(default="部局", description="Column naming the department.")
    project: str = Field(default="事業名", description="Column naming the project.")


class Budget(Model):
    """Columns of a budget request: the amount in 千円 and, if the list has one, its content.

    An entry with an amount (not blank, not 0) is a budget request; a content alone is not.
    """

    amount: str = Field(description="Column with the amount (千円).")
    content: str | None = Field(
        default=None, description="Column describing the request, if the list has one."
    )


class Round(Model):
    """One collection round: the period collected and its deadline."""

    deadline: date
    period: str | None = Field(
        default=None,
        description="Period collected (default: the one whose end is nearest the deadline).",
    )


class SummaryAfter(Model):
    """When a round closes and HQ gets its summary: business days after the deadline, then
    the first run at or after a time of day (JST)."""

    business_days: int = Field(default=1, ge=0, description="0: the deadline day itself.")
    at: Annotated[time, BeforeValidator(_quoted_time)] = Field(
        default=time(9, 0), description='The first run at or after this time, e.g. "09:00".'
    )


class ProgressCollectionParams(Model):
    """Parameters of a ``progress_collection`` flow."""

    programme: str = Field(min_length=1, description="Programme name, e.g. 群馬県DX推進計画.")
    list: ListRef = Field(
        description="Local: .csv/.xlsx path under the backend root. Graph: {site_id, list_id}."
    )
    fields: ListFields = Field(default_factory=ListFields)
    period_kind: Literal["half", "quarter"] = "half"
    rounds: tuple[Round, ...] = Field(
        min_length=1, description="Deadlines of the collection rounds."
    )
    remind_business_days_before: tuple[int, ...] = Field(default=(5, 3, 1))
    remind_on_deadline: bool = Field(
        default=True, description="Remind DX leaders with gaps on the deadline day as well."
    )
    escalate_business_days_after: tuple[int, ...] = Field(default=(1,))
    summary_after: SummaryAfter = Field(
        default_factory=SummaryAfter,
        description="When the round closes and the HQ summary goes out "
        "(default: the next business day's first run from 09:00).",
    )
    link_template: str | None = Field(
        default=None,
        description="Item URL for lists without links (local lists), {id} the item's id, "
        "e.g. https://contoso.sharepoint.com/sites/dx/Lists/progress/DispForm.aspx?ID={id}.",
    )
    required: tuple[str, ...] = Field(min_length=1, description="Fields that must be filled.")
    status_field: str = Field(default="進捗状況")
    statuses: tuple[str, ...] = Field(default=("順調", "やや遅れ", "遅れ", "完了", "未着手"))
    delayed_statuses: tuple[str, ...] = Field(default=("やや遅れ", "遅れ"))
    numeric: tuple[str, ...] = Field(default=(), description="Fields that must hold a number.")
    issue_field: str | None = Field(default=None, description="Stated issues, shown for delays.")
    budget: Budget | None = None
    secretariat: tuple[Contact, ...] = Field(min_length=1, description="DX戦略課 etc.")
    summary_to: tuple[Contact, ...] = Field(default=(), description="HQ (default: secretariat).")
    departments: tuple[str, ...] | None = Field(
        default=None, description="Departments expected to report (default: all in the directory)."
    )
    artefact_name: str = Field(default="進捗一覧_{period}.xlsx")
    templates: Path | None = None

    @field_validator("remind_business_days_before", "escalate_business_days_after")
    @classmethod
    def _non_negative(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for index, n in enumerate(value):
            if n < 0:
                raise PlacedValueError(
                    f"business-day offsets are counted from the deadline and must be >= 0 "
                    f"(got {n}); write {-n} instead",
                    (index,),
                )
        return value

    @field_validator("link_template")
    @classmethod
    def _link_has_id(cls, value: str | None) -> str | None:
        if value is not None and (
            "{id}" not in value or not value.startswith(("https://", "http://"))
        ):
            raise ValueError(
                f"must be a web address containing {{id}} (got {value!r}); write e.g. "
                "https://contoso.sharepoint.com/sites/dx/Lists/progress/DispForm.aspx?ID={id}"
            )
        return value

    @field_validator("artefact_name")
    @classmethod
    def _has_period(cls, value: str) -> str:
        if "{period}" not in value or not value.endswith(".xlsx"):
            raise ValueError(
                f"must contain {{period}} and end with .xlsx (got {value!r}); "
                "write e.g. 進捗一覧_{period}.xlsx"
            )
        return value


class ProgressCollectionFlow(Model):
    """A flow chasing half-year (or quarterly) progress entries and summarising them."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="Used on the command line.")
    kind: Literal["progress_collection"]
    description: str | None = None
    schedule: Schedule | None = Field(default=None, description="For `automation serve`.")
    params: ProgressCollectionParams

    @field_validator("schedule")
    @classmethod
    def _rule_required(cls, schedule: Schedule | None) -> Schedule | None:
        return _schedule_rule_required(schedule)


Flow = Annotated[DamageRollupFlow | ProgressCollectionFlow, Field(discriminator="kind")]


class OutboxPolicy(Model):
    """How queued messages are retried; every value is data, none is hidden in code."""

    max_attempts: int = Field(
        default=8, ge=1, le=100, description="After this many failed sends a message is dead."
    )
    backoff_seconds: tuple[float, ...] = Field(
        default=(30, 60, 120, 300, 600, 1800),
        min_length=1,
        description="Wait before attempt 2, 3, ...; the last value repeats.",
    )
    webhook_uncertain: Literal["resend", "give_up"] = Field(
        default="resend",
        description="A webhook post interrupted mid-send cannot be checked: resend it "
        "(at least once; a duplicate is possible) or give it up and alert (at most once).",
    )
    mail_settle_seconds: float = Field(
        default=300,
        ge=0,
        le=3600,
        description="A mail whose send was interrupted and that is not in Sent Items is "
        "sent again only once its send is this old: Graph accepts a mail (202) before it "
        "is processed, so until then it may still arrive.",
    )

    @field_validator("backoff_seconds")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for index, wait in enumerate(value):
            if wait < 0:
                raise PlacedValueError(
                    f"waits are seconds and cannot be negative (got {wait:g}); write {-wait:g}",
                    (index,),
                )
        return value


class ServiceConfig(Model):
    """The daemon (``automation serve``): alerts, outbox retries, reloads, shutdown."""

    alerts: tuple[Contact, ...] = Field(
        default=(), description="Admins told once when a flow starts failing and when it recovers."
    )
    alert_after_failures: int = Field(
        default=3,
        ge=1,
        description="Consecutive failed runs before the admins are alerted (one poll that "
        "fails on a network hiccup is not worth a message).",
    )
    outbox: OutboxPolicy = Field(default_factory=OutboxPolicy)
    reload_check_seconds: float = Field(
        default=5, gt=0, description="How often the configuration file is checked for changes."
    )
    shutdown_grace_seconds: float = Field(
        default=30, ge=0, description="On SIGTERM, how long a running flow may take to finish."
    )
    lease_seconds: float = Field(
        default=10,
        gt=0,
        le=300,
        description="With state.url on PostgreSQL: the leader lease of a pair of daemons; "
        "renewed four times per lease, a standby takes over after it expires.",
    )


class CpuConfig(Model):
    """How much of the machine a run may use."""

    processes: int | Literal["auto"] = Field(
        default="auto",
        description="Processes a run may use to read a changed workbook's sheets and compose "
        "its merged workbook, itself included: auto = on Linux the CPUs it may run on, at "
        "most 4, elsewhere 1; 1 = one process.",
    )

    @field_validator("processes", mode="before")
    @classmethod
    def _processes(cls, value: object) -> object:
        if value == "auto" or (type(value) is int and 1 <= value <= MAX_PROCESSES):
            return value
        raise ValueError(
            f"processes is how many processes read a workbook's sheets (got {value!r}); "
            f"write auto (the CPUs this host gives the run) or a number from 1 to {MAX_PROCESSES}"
        )


MAX_PROCESSES = 64


GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


SIGN_IN_NAME_ROLE = (
    "{entry!r} is a sign-in name (preferred_username); Entra ID lets it change, so Microsoft "
    "says it must not decide access. Write the user's object id instead (Entra admin center -> "
    "Users -> the user -> Object ID), a group's object id, or an app role under "
    "console.entra.app_roles"
)
NOT_AN_OBJECT_ID = (
    "{entry!r} is not an object id (8-4-4-4-12 hexadecimal digits); write a user's or a "
    "group's object id (Entra admin center -> Users or Groups -> Object ID), or an app role "
    "under console.entra.app_roles"
)


def _object_ids(value: tuple[str, ...]) -> tuple[str, ...]:
    """Every entry an object id; a sign-in name or anything else is placed at its entry."""
    for index, entry in enumerate(value):
        if not re.fullmatch(GUID_PATTERN, entry):
            message = SIGN_IN_NAME_ROLE if "@" in entry else NOT_AN_OBJECT_ID
            raise PlacedValueError(message.format(entry=entry), (index,))
    return tuple(entry.lower() for entry in value)


class ConsoleRoles(Model):
    """Who may sign in to the console with Entra ID, per role: object ids of users or of
    security groups, matched against the ID token's ``oid`` and ``groups`` claims (both
    immutable). Sign-in names are refused: ``preferred_username`` can change."""

    viewer: tuple[str, ...] = Field(default=(), description="Read every page and the API.")
    operator: tuple[str, ...] = Field(default=(), description="Also 再送 and 今すぐ実行.")
    admin: tuple[str, ...] = Field(default=(), description="As operator.")

    @field_validator("viewer", "operator", "admin")
    @classmethod
    def _by_object_id(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _object_ids(value)

    def anyone(self) -> bool:
        """True when some role lists someone."""
        return bool(self.viewer or self.operator or self.admin)


class ConsoleAppRoles(Model):
    """Console roles granted by app roles of the console's app registration: the values
    (e.g. ``Console.Operator``) Entra ID puts in the ID token's ``roles`` claim for users
    and groups assigned to them under Enterprise applications."""

    viewer: tuple[str, ...] = Field(default=(), description="App role values for viewers.")
    operator: tuple[str, ...] = Field(default=(), description="App role values for operators.")
    admin: tuple[str, ...] = Field(default=(), description="App role values for admins.")

    @field_validator("viewer", "operator", "admin")
    @classmethod
    def _values(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, entry in enumerate(value):
            if not re.fullmatch(r"[^\s]{1,120}", entry):
                raise PlacedValueError(
                    f"{entry!r} is not an app role value (1 to 120 characters, no spaces); "
                    "write the Value column of App roles in the app registration",
                    (index,),
                )
        return value

    def anyone(self) -> bool:
        """True when some role lists an app role."""
        return bool(self.viewer or self.operator or self.admin)


class EntraConsoleSignIn(Model):
    """Sign-in to the web console with Entra ID: OpenID Connect, authorization code + PKCE."""

    tenant_id: str = Field(pattern=GUID_PATTERN, description="Directory (tenant) ID.")
    client_id: str = Field(
        pattern=GUID_PATTERN, description="Application (client) ID of the console's app."
    )
    client_secret: str = Field(min_length=1, description="Use ${ENV_VAR}; never write it here.")
    redirect_uri: str = Field(
        pattern=r"^(https://[^/\s]+|http://(localhost|127\.0\.0\.1)(:[0-9]+)?)/auth/callback$",
        description="The Web redirect URI registered for the app: https://HOST/auth/callback "
        "(http only for localhost).",
    )
    authority_host: str = Field(
        default="login.microsoftonline.com",
        pattern=r"^[a-z0-9.-]+$",
        description="login.microsoftonline.com; login.microsoftonline.us for US Government.",
    )
    roles: ConsoleRoles = Field(default_factory=ConsoleRoles)
    app_roles: ConsoleAppRoles = Field(default_factory=ConsoleAppRoles)

    @model_validator(mode="after")
    def _someone_may_sign_in(self) -> Self:
        if not (self.roles.anyone() or self.app_roles.anyone()):
            raise PlacedValueError(
                "roles lists nobody, so no one could sign in with Entra ID; add object ids "
                "of users or groups under roles.viewer, roles.operator or roles.admin, or "
                "app roles under app_roles",
                ("roles",),
            )
        return self


class ConsoleConfig(Model):
    """The web console (``automation serve --ui-port``, ``automation console``)."""

    entra: EntraConsoleSignIn | None = Field(
        default=None, description="Entra ID sign-in; without it only local accounts sign in."
    )


class AppConfig(Model):
    """The whole configuration file."""

    version: Literal[1] = Field(description="Configuration format version; must be 1.")
    timezone: Literal["Asia/Tokyo"] = "Asia/Tokyo"
    state: StateConfig = Field(default_factory=StateConfig)
    backend: Backend = Field(default_factory=LocalBackend)
    directory: Directory
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    cpu: CpuConfig = Field(default_factory=CpuConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    flows: tuple[Flow, ...] = Field(min_length=1)

    def contacts(self) -> list[Contact]:
        """Every contact in the directory and the flows."""
        found: list[Contact] = []
        for dept in self.directory.departments:
            found += [*dept.contacts, *dept.dx_leaders, *dept.escalation]
        for flow in self.flows:
            if isinstance(flow, DamageRollupFlow):
                found += flow.params.report_to
            else:
                found += [*flow.params.secretariat, *flow.params.summary_to]
        found += self.service.alerts
        return found

    def secrets(self) -> list[str]:
        """Every secret value in the configuration (for redaction): credentials and webhooks."""
        found = []
        for contact in self.contacts():
            if contact.channel == "teams_webhook":
                found.append(contact.address)  # the signature alone is the secret part
                found += parse_qs(urlsplit(contact.address).query).get("sig", [])
        found += [
            f.params.sheet_password
            for f in self.flows
            if isinstance(f, DamageRollupFlow) and f.params.sheet_password
        ]
        backend = self.backend
        if isinstance(backend, GraphBackend):
            for holder in (backend.auth, backend.service_account):
                for name in ("client_secret", "certificate_password", "token"):
                    value = getattr(holder, name, None)
                    if isinstance(value, str) and value:
                        found.append(value)
        if self.console.entra is not None:
            found.append(self.console.entra.client_secret)
        if self.state.url:  # the database password, as written and as decoded
            parts = urlsplit(self.state.url)
            written = [parts.password or ""]
            written += [v for n, v in parse_qsl(parts.query) if n == "password"]
            found += [form for w in written for form in {w, unquote(w)} if form]
        return found

    def flow(self, flow_id: str) -> Flow | None:
        """The flow with this id, if configured."""
        return next((f for f in self.flows if f.id == flow_id), None)
