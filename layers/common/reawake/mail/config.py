"""The mail configuration: who sends (``config/mail.yaml``) and the salespeople who own leads
(``config/owners.yaml``). Both are validated like every other config file: errors name the
file, line, YAML path and problem."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from reawake.core.normalize import normalize_email
from reawake.core.scoring import ScoringConfig
from reawake.core.urls import normalize_host, web_url
from reawake.core.yamlfile import ConfigError, load_yaml, validate

MAIL_KEY = "config/mail.yaml"
OWNERS_KEY = "config/owners.yaml"
DEFAULT_MAIL = Path("config/mail.yaml")
DEFAULT_OWNERS = Path("config/owners.yaml")

_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_LINE_BREAK = re.compile(r"[\r\n]")


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an email address") from None


def _one_line(value: str) -> str:
    if _LINE_BREAK.search(value):
        raise ValueError("must be on one line (it goes into a mail header)")
    return value.strip()


def _url(value: str) -> str:
    """An http(s) URL as a browser reads and writes it (it goes into every mail's footer as a link)."""
    parsed = web_url(value)
    if parsed is None or parsed.has_credentials or value != value.strip() or "\\" in value:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return parsed.href


def _host(value: str) -> str:
    """A host name as browsers store it: ``ｚｏｏｍ.us`` and ``例え.jp`` become ``zoom.us`` and punycode."""
    host = normalize_host(value)
    if not _HOST.match(host):
        raise ValueError(f"{value!r} is not a host name (write www.example.com, without https:// or a path)")
    return host


Email = Annotated[str, AfterValidator(_email)]
OneLine = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
Url = Annotated[str, AfterValidator(_url)]
Host = Annotated[str, AfterValidator(_host)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sender(_Model):
    """The sender identity 特定電子メール法 requires in every mail, and the default From."""

    from_address: Email
    from_name: OneLine
    company: OneLine  # 送信者の名称
    name: OneLine  # the team that signs a mail for a lead without an owner (e.g. 営業部)
    address: OneLine  # 住所
    contact_email: Email  # 苦情・問い合わせの受付先
    contact_url: Url | None = None
    phone: OneLine | None = None


class MailConfig(_Model):
    sender: Sender
    #: Hosts a template may link to without tracking (a webinar platform, a video site). Links to
    #: the stack's site origins are tracked; a link to any other host is refused by the check,
    #: because the click endpoint only ever redirects to the configured sites.
    untracked_link_hosts: tuple[Host, ...] = ()
    #: Optional second ``List-Unsubscribe`` entry (a mailbox that processes opt-outs).
    unsubscribe_mailto: Email | None = None
    #: The first line of the footer: why the reader receives this mail.
    footer_note: Annotated[str, Field(max_length=500)] = (
        "本メールは、これまでに名刺交換・資料請求・セミナー参加などでご縁をいただいた方にお送りしています。"
    )


class Owner(_Model):
    name: OneLine
    phone: OneLine | None = None
    title: OneLine | None = None  # 部署・役職 (optional, for the signature)


class OwnersFile(_Model):
    owners: dict[Email, Owner] = Field(default_factory=dict)


MAIL_KEYS = (*MailConfig.model_fields, *Sender.model_fields)
OWNER_KEYS = ("owners", *Owner.model_fields)


class OwnerDirectory(Mapping[str, Owner]):
    """Owner email (normalized) -> the salesperson's name and phone."""

    def __init__(self, owners: Mapping[str, Owner] | None = None) -> None:
        self._owners = {normalize_email(k): v for k, v in (owners or {}).items()}

    def get_owner(self, email: str | None) -> Owner | None:
        if not email:
            return None
        try:
            return self._owners.get(normalize_email(email))
        except ValueError:
            return None

    def __getitem__(self, email: str) -> Owner:
        return self._owners[normalize_email(email)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._owners)

    def __len__(self) -> int:
        return len(self._owners)


def load_mail_config(text: str, file: str = "mail.yaml") -> MailConfig:
    doc = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.issue((), "expected a mapping with sender: (from_address, from_name, company, ...)")])
    return validate(MailConfig, doc, MAIL_KEYS)


def load_owners(text: str, file: str = "owners.yaml") -> OwnerDirectory:
    doc = load_yaml(text, file)
    if doc.data is None:
        return OwnerDirectory()
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.issue((), "expected a mapping with owners: {email: {name, phone}}")])
    return OwnerDirectory(validate(OwnersFile, doc, OWNER_KEYS).owners)


def load_mail_config_file(path: Path = DEFAULT_MAIL) -> MailConfig:
    return load_mail_config(path.read_text(encoding="utf-8-sig"), str(path))


def load_owners_file(path: Path = DEFAULT_OWNERS) -> OwnerDirectory:
    return load_owners(path.read_text(encoding="utf-8-sig"), str(path)) if path.exists() else OwnerDirectory()


#: Used when no mail config is at hand (checking templates without config/mail.yaml).
PLACEHOLDER_MAIL = MailConfig(
    sender=Sender(
        from_address="info@example.com",
        from_name="送信者",
        company="送信者の名称",
        name="担当チーム",
        address="送信者の住所",
        contact_email="info@example.com",
    )
)


class OwnerMailConfig(Protocol):
    """The config bucket as the mails to salespeople read it (revisit alerts, call lists):
    ``reawake.segments.definitions.OwnerMailBucket`` (wired by the entry modules); ``tests.fakes.FakeOwnerConfig`` in
    the unit tests."""

    def scoring(self) -> ScoringConfig | None: ...

    def segment_names(self) -> Mapping[str, str]: ...

    def segment_dimensions(self) -> Mapping[str, frozenset[str]]:
        """Definition id -> the activity dimensions its rule reads (``segments.definitions.read_dimensions``)."""

    def owners(self) -> OwnerDirectory: ...

    def mail_config(self) -> MailConfig | None: ...
