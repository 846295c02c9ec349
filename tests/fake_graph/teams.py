"""Teams: channel files folders, channel messages (chatmessage-post.md,
channel-list-messages.md) and the Workflows webhook stand-in.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from tests.fake_graph.drives import (
    DriveEndpoints,
)
from tests.fake_graph.wire import (
    GraphError,
    Json,
    _int_param,
    _iso,
    _json,
    _next_link,
    _odata_context,
    _offset,
)

WEBHOOK_ORIGIN = "https://workflows.fake-logic.test"
WEBHOOK_LIMIT = 28 * 1024  # Teams incoming webhooks: 28 KB per message
# A channel message: about 28 KB with its mentions ("Limits and specifications for Microsoft
# Teams"), counted in UTF-16 as Teams counts a bot message's size.
CHANNEL_MESSAGE_LIMIT = 28 * 1024
CHANNEL_PAGE_DEFAULT, CHANNEL_PAGE_MAX = 20, 50  # channel-list-messages.md


@dataclass
class Channel:
    """A team channel, its files folder and its posted messages (oldest first)."""

    team_id: str
    channel_id: str
    display_name: str
    drive_id: str
    folder_item_id: str
    messages: list[Json] = field(default_factory=list)


@dataclass
class WebhookPost:
    """One POST to a webhook stand-in, accepted (202) or not."""

    webhook_id: str
    body: bytes
    status: int

    @property
    def cards(self) -> list[Json]:
        """The adaptive cards of an accepted post."""
        if self.status != 202:
            return []
        return [a["content"] for a in json.loads(self.body)["attachments"]]


def _channel_fragment(channel: Channel) -> str:
    return f"teams('{quote(channel.team_id)}')/channels('{quote(channel.channel_id, safe='')}')"


class TeamsEndpoints(DriveEndpoints):
    """Seeding and endpoints of team channels (files folders live in drives) and webhooks."""

    def add_team_channel(
        self, team_id: str, channel_id: str, display_name: str, drive_id: str, folder_item_id: str
    ) -> Channel:
        """Add a channel whose files folder is ``/{display_name}`` in ``drive_id``."""
        self.add_folder(drive_id, folder_item_id, f"/{display_name}")
        channel = Channel(team_id, channel_id, display_name, drive_id, folder_item_id)
        self.channels[(team_id, channel_id)] = channel
        return channel

    def cards(self, webhook_id: str | None = None) -> list[Json]:
        """Adaptive cards accepted by the webhook stand-in, oldest first."""
        return [
            card
            for post in self.webhook_posts
            if webhook_id is None or post.webhook_id == webhook_id
            for card in post.cards
        ]

    @staticmethod
    def webhook_url(webhook_id: str, base_url: str = WEBHOOK_ORIGIN) -> str:
        """A webhook URL on ``base_url``'s origin (e.g. the URL ``serve()`` yields)."""
        parts = urlsplit(base_url)
        return f"{parts.scheme}://{parts.netloc}/webhooks/{quote(webhook_id)}?sig=fake-signature"

    def _channel(self, request: Request) -> Channel:
        key = (request.path_params["team_id"], request.path_params["channel_id"])
        channel = self.channels.get(key)
        if channel is None:
            raise GraphError(404, "NotFound", f"Channel {key[1]} of team {key[0]} was not found.")
        return channel

    async def _files_folder(self, request: Request) -> Response:
        channel = self._channel(request)
        folder = self.drives[channel.drive_id].items[channel.folder_item_id]
        body = self._drive_item_json(request, folder)
        fragment = _channel_fragment(channel) + "/filesFolder/$entity"
        body["@odata.context"] = _odata_context(request, fragment)
        return _json(body)

    async def _channel_messages(self, request: Request) -> Response:
        channel = self._channel(request)
        if request.method == "POST":
            payload = await self._json_body(request)
            content = json.dumps(payload, ensure_ascii=False).encode("utf-16-le")
            if len(content) > CHANNEL_MESSAGE_LIMIT:
                raise GraphError(413, "RequestEntityTooLarge", "The message is too large.")
            message = self._chat_message(request, channel, payload)
            channel.messages.append(message)
            return _json(message, 201)
        return self._list_channel_messages(request, channel)

    def _list_channel_messages(self, request: Request, channel: Channel) -> Response:
        size = min(_int_param(request, "$top", "top") or CHANNEL_PAGE_DEFAULT, CHANNEL_PAGE_MAX)
        newest_first = [
            {k: v for k, v in m.items() if not k.startswith("@")}
            for m in reversed(channel.messages)
        ]
        start = _offset(request, "$skiptoken")
        page = newest_first[start : start + size]
        fragment = _channel_fragment(channel) + "/messages"
        body: Json = {
            "@odata.context": _odata_context(request, fragment),
            "@odata.count": len(page),
        }
        if start + size < len(newest_first):
            body["@odata.nextLink"] = _next_link(request, {"$skiptoken": str(start + size)})
        body["value"] = page
        return _json(body)

    def _chat_message(self, request: Request, channel: Channel, payload: Json) -> Json:
        """A chatMessage as returned by POST (chatmessage-post.md)."""
        body = payload.get("body")
        if not isinstance(body, dict) or not body.get("content"):
            raise GraphError(400, "BadRequest", "The message body is required.")
        now = self.clock()
        self._last_message_id = max(self._last_message_id + 1, int(now.timestamp() * 1000))
        message_id = str(self._last_message_id)
        fragment = _channel_fragment(channel) + "/messages/$entity"
        web_url = (
            f"https://teams.microsoft.com/l/message/{quote(channel.channel_id, safe='')}/{message_id}"
            f"?groupId={channel.team_id}&createdTime={message_id}&parentMessageId={message_id}"
        )
        return {
            "@odata.context": _odata_context(request, fragment),
            "id": message_id,
            "replyToId": None,
            "etag": message_id,
            "messageType": "message",
            "createdDateTime": _iso(now, millis=True),
            "lastModifiedDateTime": _iso(now, millis=True),
            "lastEditedDateTime": None,
            "deletedDateTime": None,
            "subject": payload.get("subject"),
            "summary": payload.get("summary"),
            "chatId": None,
            "importance": payload.get("importance", "normal"),
            "locale": "en-us",
            "webUrl": web_url,
            "policyViolation": None,
            "eventDetail": None,
            "from": {
                "application": None,
                "device": None,
                "user": {**self.channel_sender, "userIdentityType": "aadUser"},
            },
            "body": {"contentType": body.get("contentType", "text"), "content": body["content"]},
            "channelIdentity": {"teamId": channel.team_id, "channelId": channel.channel_id},
            "attachments": [self._attachment(a) for a in payload.get("attachments") or []],
            "mentions": [self._mention(m) for m in payload.get("mentions") or []],
            "reactions": [],
        }

    @staticmethod
    def _attachment(attachment: Json) -> Json:
        defaults = {
            "id": None,
            "contentType": None,
            "contentUrl": None,
            "content": None,
            "name": None,
        }
        return {**defaults, "thumbnailUrl": None, "teamsAppId": None, **attachment}

    @staticmethod
    def _mention(mention: Json) -> Json:
        mentioned = dict(mention.get("mentioned") or {})
        if isinstance(mentioned.get("user"), dict):
            mentioned["user"] = {"userIdentityType": "aadUser", **mentioned["user"]}
        return {
            "id": mention.get("id"),
            "mentionText": mention.get("mentionText"),
            "mentioned": {"application": None, "device": None, "conversation": None, **mentioned},
        }

    async def _webhook(self, request: Request) -> Response:
        """Teams Workflows stand-in: 202 for an adaptive-card envelope, 413 over 28 KB."""
        body = await request.body()
        post = WebhookPost(request.path_params["hook_id"], body, 202)
        self.webhook_posts.append(post)
        if len(body) > WEBHOOK_LIMIT:
            post.status = 413
            raise GraphError(
                413, "RequestEntityTooLarge", f"The message exceeds {WEBHOOK_LIMIT} bytes."
            )
        if not self._is_card_envelope(body):
            post.status = 400
            raise GraphError(
                400,
                "InvalidRequestContent",
                "Expected {type: message, attachments: [adaptive card]}.",
            )
        return Response(status_code=202, headers={"x-ms-workflow-run-id": uuid.uuid4().hex.upper()})

    @staticmethod
    def _is_card_envelope(body: bytes) -> bool:
        try:
            payload = json.loads(body)
        except ValueError:
            return False
        attachments = payload.get("attachments") if isinstance(payload, dict) else None
        return (
            payload.get("type") == "message"
            and isinstance(attachments, list)
            and bool(attachments)
            and all(
                isinstance(a, dict)
                and a.get("contentType") == "application/vnd.microsoft.card.adaptive"
                and isinstance(a.get("content"), dict)
                for a in attachments
            )
        )
