"""The tracking API's routes (DESIGN.md, "External interface"): parse, one domain call, answer."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import html
import json
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ValidationError

from reawake.core import clock, urls
from reawake.core.aws import secret_json
from reawake.core.config_store import bucket_config
from reawake.core.events import (
    MAX_BODY_BYTES,
    ActivityBatchIn,
    BrowserEventIn,
    Event,
    EventBatchIn,
    IdentifyIn,
)
from reawake.core.normalize import normalize_email
from reawake.core.scoring import ScoringConfig
from reawake.core.settings import Settings, get_settings
from reawake.core.store import table_store
from reawake.core.tokens import Purpose, TokenError, verify
from reawake.observability import count
from reawake.tracking import feedback, recording
from reawake.tracking.http import Request, Response, Router, error_response, json_response

logger = Logger(child=True)
M = TypeVar("M", bound=BaseModel)
router = Router(fallback="ANY /v1/{proxy+}")  # every other request under /v1 reaches the router: 404, 405, HEAD

# What each route answers, for the OpenAPI document: (description, content kind of reawake.tracking.openapi).
BAD = {400: ("invalid input, the field named; nothing stored", "error")}
FOREIGN = {403: ("the Origin is not a configured site", "error")}
TOO_LARGE = {413: ("the body is over 64 KB", "error")}
MEDIA = {415: ("the body is not sent as application/json or text/plain", "error")}
INVALID_LINK = {400: ("the link is not valid", "html")}

# The smallest transparent GIF.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = {"cache-control": "no-store, max-age=0"}
IDENTIFY_PARAM = "rw_id"
FEEDBACK_METRICS = {"email_bounce": "Bounces", "email_complaint": "Complaints"}


def now_ms() -> int:
    """The wall clock on AWS; the stack clock on the local stack (``reawake.core.clock``)."""
    return clock.now_ms()


store = cache(table_store)
config = cache(bucket_config)


def scoring() -> ScoringConfig | None:
    """The scoring config from the config bucket; without one, leads are not scored (logged)."""
    found = config().scoring()
    if found is None:
        logger.warning("no scoring config in the config bucket: scores are not updated")
    return found


def signing_key(settings: Settings) -> bytes:
    return str(secret_json(settings.signing_secret_arn, settings.secret_max_age_seconds)["signing_key"]).encode("utf-8")


def counted(result: recording.Recorded) -> recording.Recorded:
    """The business metrics of stored events (reawake.observability)."""
    count("EventsAccepted", result.accepted)
    count("EventsDuplicate", result.duplicates)
    count("Revisits", result.revisits)
    return result


def gif() -> Response:
    return Response(200, GIF, "image/gif", NO_STORE)


class BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


JSON_MEDIA_TYPES = ("application/json", "text/plain", "")  # t.js sends text/plain: no CORS preflight


def parse(model: type[M], request: Request, wrap_list_as: str | None = None) -> M:
    """Parse a JSON body into model, or raise BadRequest with a 4xx naming the field."""
    if len(request.body) > MAX_BODY_BYTES:
        raise BadRequest(error_response(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes"))
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        raise BadRequest(error_response(415, "unsupported_media_type",
                                        "send the JSON body as application/json or text/plain", "content-type"))
    body = request.body.strip()
    if wrap_list_as and body.startswith(b"["):
        body = b'{"' + wrap_list_as.encode() + b'":' + body + b"}"
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise BadRequest(error_response(400, "malformed_json", "the body is not valid JSON")) from exc
        field = field_path(body, first["loc"])
        raise BadRequest(error_response(400, "invalid", f"{field}: {first['msg']}", field)) from exc


def field_path(body: bytes, loc: tuple[int | str, ...]) -> str:
    """The error's location in the input: pydantic adds union member names ("constrained-str")
    to the path; keep only the keys and indexes that exist in the document."""
    node: Any = json.loads(body)
    parts: list[str] = []
    for part in loc:
        if not isinstance(node, dict | list):
            break
        parts.append(str(part))
        exists = part in node if isinstance(node, dict) else isinstance(part, int) and part < len(node)
        if not exists:
            break  # a missing or extra field: named, and the path ends there
        node = node[part]  # type: ignore[index]
    return ".".join(parts)


def origin_allowed(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urls.is_site_origin(origin, settings.site_origins)


def fetch_purpose(request: Request) -> str | None:
    """prefetch / prerender / preview when the browser (or a mail client) fetched without a person
    looking (``Sec-Purpose``, ``Purpose``, ``X-Purpose``, ``X-Moz``): recorded, never alerted."""
    for name in ("sec-purpose", "purpose", "x-purpose", "x-moz"):
        value = request.headers.get(name, "").lower()
        for purpose in ("prerender", "prefetch", "preview"):
            if purpose in value:
                return purpose
    return None


def with_purpose(events: list[Event], request: Request) -> list[Event]:
    purpose = fetch_purpose(request)
    return [dataclasses.replace(e, fetch_purpose=purpose) for e in events] if purpose else events


def record(request: Request, settings: Settings, events: list[Event], now: int) -> None:
    """Record what a GET link or pixel saw. HEAD asks what GET would answer and records nothing
    (RFC 9110: a safe method; link checkers and mail scanners send it)."""
    if request.method != "HEAD":
        counted(recording.record(store(), settings, with_purpose(events, request), now, scoring()))


def handle(event: dict[str, Any]) -> dict[str, Any]:
    if "Records" in event:  # SES feedback through the SNS subscription
        return handle_feedback(event)
    request = Request.from_event(event)
    try:
        response = router.dispatch(request)
    except BadRequest as bad:
        response = bad.response
    except recording.InvalidInput as exc:
        response = error_response(400, exc.code, exc.message, exc.field)
    if 400 <= response.status < 500 and response.status != 401:
        count("EventsRejected")  # a request refused for its input: nothing stored
    return response.to_proxy()


# --- browser ----------------------------------------------------------------------------------


@router.route("POST /v1/events", "A batch (1-50) of browser events", body=EventBatchIn,
              responses={202: ("stored; duplicates counted", "counts"), **BAD, **FOREIGN, **TOO_LARGE, **MEDIA})
def post_events(request: Request) -> Response:
    settings = get_settings()
    if not origin_allowed(request, settings):
        return error_response(403, "origin_not_allowed", "this origin is not a configured site")
    batch = parse(EventBatchIn, request, wrap_list_as="events")
    events = recording.browser_events(batch.events, settings, now_ms(), user_agent=request.user_agent,
                                     skew_ms=clock.skew_ms())
    result = counted(recording.record(store(), settings, with_purpose(events, request), now_ms(), scoring()))
    logger.info(
        "events recorded",
        extra={"accepted": result.accepted, "duplicates": result.duplicates, "revisits": result.revisits},
    )
    return json_response(202, {"accepted": result.accepted, "duplicates": result.duplicates})


@router.route("POST /v1/identify",
              "Link a visitor to a lead: a signed token from an email link, or an email from a form", body=IdentifyIn,
              responses={200: ("linked", "identified"), **BAD, **FOREIGN, **TOO_LARGE, **MEDIA})
def post_identify(request: Request) -> Response:
    settings = get_settings()
    if not origin_allowed(request, settings):
        return error_response(403, "origin_not_allowed", "this origin is not a configured site")
    body = parse(IdentifyIn, request)
    now = now_ms()
    if (body.token is None) == (body.email is None):
        return error_response(400, "invalid", "send exactly one of token or email", "token")
    if body.token is not None:
        lead_id = recording.lead_for_token(body.token, signing_key(settings), now)
    else:
        try:
            email = normalize_email(body.email or "")
        except ValueError as exc:
            return error_response(400, "invalid_email", str(exc), "email")
        lead = recording.ensure_lead(store(), email, now, source="form", name=body.name, company=body.company)
        if body.consent is not None:
            recording.record_consent(
                store(),
                lead,
                recording.consent_record(body.consent.marketing_email, body.consent.text, body.consent.source_url, now),
            )
        lead_id = lead.lead_id
    outcome = recording.link(store(), settings, body.visitor_id, lead_id, now, scoring())
    logger.info("visitor identified", extra={"lead_id": lead_id, "link": outcome})
    return json_response(200, {"identified": True, "link": outcome})


@router.route("GET /v1/pixel.gif", "A page view without JavaScript", params=("vid", "url", "id", "type", "ts", "ref"),
              responses={200: ("a 1x1 GIF, whatever the input; only valid input is recorded", "gif")})
def get_pixel(request: Request) -> Response:
    """A page view without JavaScript. Always a GIF; only valid input is recorded."""
    settings = get_settings()
    q = request.query
    url = q.get("url") or request.headers.get("referer", "")
    now = now_ms()
    try:
        ts = int(q["ts"]) if "ts" in q else clock.wall_ms()  # the browser's clock; skewed below
        event_id = (
            q.get("id") or "p" + hashlib.sha256(f"{q.get('vid')}|{url}|{now // 60_000}".encode()).hexdigest()[:31]
        )
        item = BrowserEventIn.model_validate(
            {
                "id": event_id,
                "type": q.get("type", "page_view"),
                "ts": ts,
                "visitor_id": q.get("vid", ""),
                "url": url,
                "referrer": q.get("ref"),
            }
        )
        events = recording.browser_events([item], settings, now, source="pixel", user_agent=request.user_agent,
                                         skew_ms=clock.skew_ms())
        record(request, settings, events, now)
    except (ValueError, recording.InvalidInput) as exc:  # ValidationError is a ValueError
        count("EventsRejected")
        logger.info("pixel ignored", extra={"reason": type(exc).__name__})
    return gif()


@router.route("GET /v1/t.js", "The tracking snippet", responses={200: ("JavaScript, cacheable", "js")})
def get_snippet(request: Request) -> Response:
    return Response(200, snippet(), "application/javascript; charset=utf-8", {"cache-control": "public, max-age=3600"})


@cache
def snippet() -> str:
    return resources.files("reawake").joinpath("static/t.js").read_text(encoding="utf-8")


# --- email links ------------------------------------------------------------------------------


def with_identify(target: urls.Url, token: str) -> str:
    return urls.with_query_param(target, IDENTIFY_PARAM, token)


def redirect(location: str) -> Response:
    return Response(302, "", "text/plain; charset=utf-8", {"location": location, **NO_STORE})


@router.route("GET /v1/click/{token}", "A tracked email link", responses={
    302: ("to the signed target with rw_id, or to the primary site for a bad link", "redirect"),
    400: ("a bad link and no primary site to send the person to", "error")})
def get_click(request: Request) -> Response:
    settings = get_settings()
    now = now_ms()
    key = signing_key(settings)
    fallback = settings.primary_site + "/" if settings.primary_site else None
    try:
        token = verify(request.path_params.get("token", ""), key, Purpose.CLICK, now // 1000)
    except TokenError as exc:
        expired = exc.expired_token
        logger.info("click token refused", extra={"reason": exc.reason})
        # An expired link still takes the person to its (signed, on-site) page, unidentified.
        page = urls.site_url(expired.target, settings.site_origins) if expired and expired.target else None
        if page:
            return redirect(page.href)
        if fallback:
            return redirect(fallback)
        return error_response(400, "bad_token", "this link is not valid")
    target = urls.site_url(token.target or "", settings.site_origins)  # the host a browser would go to
    if target is None:
        logger.warning("click target off the configured sites", extra={"lead_id": token.lead_id})
        return redirect(fallback) if fallback else error_response(400, "bad_target", "this link is not valid")
    event = recording.email_event("email_click", token, now, url=target.href, user_agent=request.user_agent)
    record(request, settings, [event], now)
    return redirect(with_identify(target, recording.identify_token(token.lead_id, key, now)))


@router.route("GET /v1/open/{file}", "Email open pixel ({token}.gif)",
              responses={200: ("a 1x1 GIF, whatever the token", "gif")})
def get_open(request: Request) -> Response:
    settings = get_settings()
    now = now_ms()
    name = request.path_params.get("file", "")
    if name.endswith(".gif"):
        try:
            token = verify(name[:-4], signing_key(settings), Purpose.OPEN, now // 1000)
            event = recording.email_event("email_open", token, now, user_agent=request.user_agent)
            record(request, settings, [event], now)
        except TokenError as exc:
            logger.info("open token refused", extra={"reason": exc.reason})
    return gif()


UNSUBSCRIBE_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto;line-height:1.7">
<h1 style="font-size:1.3em">{title}</h1><p>{message}</p>{form}</body></html>"""

CONFIRM_FORM = """<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit" style="font-size:1.1em;padding:.5em 2em">配信を停止する</button></form>"""


def page(status: int, title: str, message: str, form: str = "") -> Response:
    body = UNSUBSCRIBE_PAGE.format(title=html.escape(title), message=html.escape(message), form=form)
    return Response(status, body, "text/html; charset=utf-8", NO_STORE)


def unsubscribe_lead(request: Request) -> str | None:
    """The lead an unsubscribe token names. An expired but genuine token still unsubscribes:
    opting out must always work (特定電子メール法)."""
    settings = get_settings()
    try:
        return verify(
            request.path_params.get("token", ""), signing_key(settings), Purpose.UNSUBSCRIBE, now_ms() // 1000
        ).lead_id
    except TokenError as exc:
        return exc.expired_token.lead_id if exc.expired_token else None


@router.route("GET /v1/unsubscribe/{token}", "Confirmation page (GET changes nothing: mail scanners fetch links)",
              responses={200: ("HTML page with the button", "html"), **INVALID_LINK})
def get_unsubscribe(request: Request) -> Response:
    # Mail scanners fetch links, so GET only asks; the button (or the RFC 8058 POST) unsubscribes.
    if unsubscribe_lead(request) is None:
        return page(400, "リンクが無効です", "この配信停止リンクは無効です。メールに記載の連絡先までご連絡ください。")
    return page(
        200, "メール配信の停止", "下のボタンを押すと、今後このアドレスへのご案内メールを停止します。", CONFIRM_FORM
    )


@router.route("POST /v1/unsubscribe/{token}", "RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click)",
              body="form", responses={200: ("unsubscribed at once", "html"), **INVALID_LINK})
def post_unsubscribe(request: Request) -> Response:
    lead_id = unsubscribe_lead(request)
    if lead_id is None or not recording.unsubscribe(store(), get_settings(), lead_id, now_ms(), via="link"):
        return page(400, "リンクが無効です", "この配信停止リンクは無効です。メールに記載の連絡先までご連絡ください。")
    count("Unsubscribes")
    logger.info("lead unsubscribed", extra={"lead_id": lead_id})
    return page(200, "配信を停止しました", "今後、このアドレスへのご案内メールはお送りしません。")


# --- server to server ------------------------------------------------------------------------


@router.route("POST /v1/activities", "Server-to-server activities (purchase, webinar, sales contact, ...)",
              body=ActivityBatchIn, responses={202: ("stored; duplicates counted", "counts"), **BAD,
                                               401: ("missing or wrong API key", "error"), **TOO_LARGE, **MEDIA})
def post_activities(request: Request) -> Response:
    settings = get_settings()
    expected = str(secret_json(settings.api_key_secret_arn, settings.secret_max_age_seconds)["api_key"])
    given = request.headers.get("x-api-key", "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        return error_response(401, "unauthorized", "a valid x-api-key header is required")
    batch = parse(ActivityBatchIn, request, wrap_list_as="activities")
    now = now_ms()
    pairs = recording.activity_events(batch.activities, now)
    result = counted(recording.record_activities(store(), settings, pairs, now, scoring()))
    logger.info("activities recorded", extra={"accepted": result.accepted, "duplicates": result.duplicates})
    return json_response(202, {"accepted": result.accepted, "duplicates": result.duplicates})


@router.route("GET /v1/openapi.json", "This document", responses={200: ("OpenAPI 3.1", "json")})
def get_openapi(request: Request) -> Response:
    from reawake.tracking.openapi import document

    return Response(200, json.dumps(document(router), ensure_ascii=False),
                    headers={"cache-control": "public, max-age=3600"})


# --- SES feedback (SNS) -----------------------------------------------------------------------


def handle_feedback(event: dict[str, Any]) -> dict[str, Any]:
    """Bounces, complaints and deliveries. A malformed record is logged and skipped: SNS would only
    deliver it again."""
    settings = get_settings()
    counts = {"recorded": 0, "suppressed": 0, "skipped": 0}
    for record in event.get("Records", []):
        try:
            notification = feedback.parse(str(record.get("Sns", {}).get("Message", "")))
        except feedback.BadNotification as exc:
            logger.warning("feedback record skipped", extra={"reason": str(exc)})
            counts["skipped"] += 1
            continue
        for item in feedback.feedback_of(notification, now_ms()):
            lead_id = store().lead_id_of(item.email) or ""
            if lead_id and recording.suppress(store(), settings, lead_id, item.event, item.suppress, now_ms()):
                counts["recorded"] += 1
                counts["suppressed"] += item.suppress is not None
                if item.event.kind in FEEDBACK_METRICS:
                    count(FEEDBACK_METRICS[item.event.kind])
                if item.suppress:
                    logger.info("lead suppressed", extra={"lead_id": lead_id, "reason": item.suppress})
            else:
                counts["skipped"] += 1  # mail to an address that is not (or no longer) a lead
    logger.info("feedback processed", extra=counts)
    return counts
