"""A fake Microsoft Graph v1.0 for tests: a starlette app with seeded state, faults and a call log.

The fake serves the endpoints this project uses, with the wire shapes of the Microsoft Graph
reference pages (microsoftgraph/microsoft-graph-docs-contrib, ``api-reference/v1.0/api/``):

============================================================  ====================================
request                                                       page
============================================================  ====================================
GET  /drives/{d}/items/{i}, /drives/{d}/root:/{path}[:]        driveitem-get.md
GET  .../content -> 302 to a preauthenticated URL, or 304      driveitem-get-content.md
GET  /teams/{t}/channels/{c}/filesFolder                       channel-get-filesfolder.md
PUT  /drives/{d}/items/{parent}:/{name}:/content               driveitem-put-content.md
POST .../{name}:/createUploadSession, PUT {uploadUrl}          driveitem-createuploadsession.md
     (each range under 60 MiB, all but the last a multiple of 320 KiB: ``upload_fragment_unit``)
GET  /sites/{s}/lists/{l} (id or title)                        list-get.md
POST /sites/{s}/lists -> 201 (genericList, with columns)         list-create.md
GET  /sites/{s}/lists/{l}/columns                              list-list-columns.md
POST /sites/{s}/lists/{l}/columns -> 201                        list-post-columns.md
PATCH /sites/{s}/lists/{l}/columns/{id} -> 200                  columndefinition-update.md
GET  /sites/{s}/lists/{l}/items?expand=fields(select=...)      listitem-list.md
POST /users/{u}/sendMail -> 202 (4 MB request, 3 MB inline)   user-sendmail.md
GET  /users/{u}/mailFolders/SentItems/messages?$filter=...     singlevaluelegacyextendedproperty-get.md
GET  /users/{u}/mailFolders/drafts/messages?$filter=...        mailfolder-list-messages.md
POST /users/{u}/messages -> 201 draft, DELETE .../{id} -> 204  user-post-messages.md, message-delete.md
POST|GET /users/{u}/messages/{id}/attachments                  message-post-attachments.md
POST .../attachments/createUploadSession, PUT {uploadUrl}      attachment-createuploadsession.md
POST /users/{u}/messages/{id}/send -> 202                      message-send.md
POST|GET /teams/{t}/channels/{c}/messages                      chatmessage-post.md, channel-list-messages.md
============================================================  ====================================

Items can also be addressed as ``/sites/{s}/drive/...`` once :meth:`FakeGraph.set_site_drive`
names the site's default drive. A Teams Workflows webhook stand-in answers
``POST /webhooks/{id}`` (and the Logic Apps form ``/workflows/{id}/triggers/manual/paths/invoke``).

Errors carry the OData body of ``concepts/errors.md``::

    {"error": {"code": ..., "message": ..., "innerError": {"date", "request-id", "client-request-id"}}}

and every response carries ``request-id`` and ``client-request-id`` headers.

Every ``/v1.0`` path needs ``Authorization: Bearer <token>`` (``FakeGraph(token=...)``, default
``test-token``). The preauthenticated download and upload URLs and the webhooks need none; calls
to them that carry one are listed by :meth:`FakeGraph.authorization_leaks`, and a fragment PUT
to an upload URL that carries one is refused with 401 ``unauthenticated``
(driveitem-createuploadsession.md: it "may result in an HTTP 401").

Preauthenticated URLs are on another origin: ``https://download.fake-sharepoint.test`` and
``https://upload.fake-sharepoint.test`` in process (``httpx.ASGITransport`` routes every host to
the app). Over loopback (:meth:`FakeGraph.serve`) a request to ``127.0.0.1`` gets URLs on
``localhost`` with the same port, and the other way round: a different origin that resolves to
the same server, so a correct client drops ``Authorization`` when it follows them.

Connection resets (:meth:`FakeGraph.reset_connection`): the server reads the whole request, then

* in process (``httpx.ASGITransport``), the app raises ``httpx.ReadError("[Errno 104] Connection
  reset by peer")``; the transport re-raises it from ``client.send`` with ``.request`` set, the
  same exception type the real httpx transport raises for ECONNRESET;
* over loopback (uvicorn), the server aborts the TCP connection with an RST (``SO_LINGER`` 0)
  before answering; httpx raises ``httpx.ReadError("[Errno 104] Connection reset by peer")``
  (seen every time on Linux). Code should catch ``httpx.TransportError``, which also covers
  ``RemoteProtocolError("Server disconnected without sending a response.")`` for a plain close.

Empty pages (:meth:`FakeGraph.empty_page`): a collection read answers 200 with ``"value": []``
and an ``@odata.nextLink`` that reads it again, as paging.md allows ("A page of results may
contain zero or more results"); a client that stops at the first page misses everything.

Lost replies (:meth:`FakeGraph.lose_reply`): the fake acts on the request (a mail is sent, a post
is made, a fragment is stored, a list is read), then resets the connection the same way before
any answer leaves. This is the case a client cannot tell from a reset before the server acted.

Behaviour not stated by the reference pages is marked "(not documented)" where it is chosen.

The package follows the areas of the Graph reference: :mod:`.drives` (driveItem, content, uploads),
:mod:`.lists` (sites and lists), :mod:`.mail` (sendMail, Sent Items), :mod:`.teams` (channel
messages, files folders, webhooks), :mod:`.drafts` (drafts and their attachments), :mod:`.faults`
(faults, auth, the call log), with shared wire
shapes in :mod:`.wire` and the assembly in :mod:`.app`. Import from ``tests.fake_graph``.
"""

from __future__ import annotations

from tests.fake_graph.app import (
    FakeGraph,
)
from tests.fake_graph.drafts import (
    FRAGMENT_LIMIT,
    OUTLOOK_ORIGIN,
    AttachmentSession,
    DraftEndpoints,
)
from tests.fake_graph.drives import (
    CONFLICT_BEHAVIOR,
    DOWNLOAD_ORIGIN,
    SIMPLE_UPLOAD_LIMIT,
    UPLOAD_ORIGIN,
    XLSX_MIME,
    Address,
    Drive,
    DriveEndpoints,
    DriveItem,
    UploadSession,
    parse_address,
)
from tests.fake_graph.faults import (
    RESET_MESSAGE,
    WWW_AUTHENTICATE,
    Fault,
    FaultsAndAuth,
)
from tests.fake_graph.lists import (
    COLUMN_FACETS,
    LIST_PAGE_CAP,
    PREFER_NON_INDEXED,
    ListEndpoints,
    ListItem,
    SpList,
    column_definition,
    parse_field_filter,
    parse_fields_expand,
)
from tests.fake_graph.mail import (
    MAIL_PAGE_DEFAULT,
    OTHER_WELL_KNOWN_FOLDERS,
    SENT_ITEMS_FOLDER_ID,
    MailEndpoints,
    SentMail,
    parse_extended_filter,
)
from tests.fake_graph.teams import (
    CHANNEL_PAGE_DEFAULT,
    CHANNEL_PAGE_MAX,
    WEBHOOK_LIMIT,
    WEBHOOK_ORIGIN,
    Channel,
    TeamsEndpoints,
    WebhookPost,
)
from tests.fake_graph.wire import (
    DEFAULT_ERRORS,
    GRAPH_BASE_URL,
    ODATA_JSON,
    PREFIX,
    Call,
    Endpoint,
    FakeState,
    GraphError,
    Json,
    odata_error,
)

__all__ = [
    "CHANNEL_PAGE_DEFAULT",
    "CHANNEL_PAGE_MAX",
    "COLUMN_FACETS",
    "CONFLICT_BEHAVIOR",
    "DEFAULT_ERRORS",
    "DOWNLOAD_ORIGIN",
    "FRAGMENT_LIMIT",
    "GRAPH_BASE_URL",
    "LIST_PAGE_CAP",
    "MAIL_PAGE_DEFAULT",
    "ODATA_JSON",
    "OTHER_WELL_KNOWN_FOLDERS",
    "OUTLOOK_ORIGIN",
    "PREFER_NON_INDEXED",
    "PREFIX",
    "RESET_MESSAGE",
    "SENT_ITEMS_FOLDER_ID",
    "SIMPLE_UPLOAD_LIMIT",
    "UPLOAD_ORIGIN",
    "WEBHOOK_LIMIT",
    "WEBHOOK_ORIGIN",
    "WWW_AUTHENTICATE",
    "XLSX_MIME",
    "Address",
    "AttachmentSession",
    "Call",
    "Channel",
    "DraftEndpoints",
    "Drive",
    "DriveEndpoints",
    "DriveItem",
    "Endpoint",
    "FakeGraph",
    "FakeState",
    "Fault",
    "FaultsAndAuth",
    "GraphError",
    "Json",
    "ListEndpoints",
    "ListItem",
    "MailEndpoints",
    "SentMail",
    "SpList",
    "TeamsEndpoints",
    "UploadSession",
    "WebhookPost",
    "column_definition",
    "odata_error",
    "parse_address",
    "parse_extended_filter",
    "parse_field_filter",
    "parse_fields_expand",
]
