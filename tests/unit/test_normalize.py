"""Identities typed by people: emails and company names."""

from __future__ import annotations

import pytest

from reawake.core.normalize import company_key, normalize_email, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Taro.Yamada@Example.CO.JP ", "taro.yamada@example.co.jp"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", "taro@example.co.jp"),  # typed in a Japanese input mode
        ("hanako+news@example.jp", "hanako+news@example.jp"),
    ],
)
def test_emails_are_normalized(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "taro", "taro@", "@example.jp", "taro@example", "山田@example.jp", "a b@example.jp"]
)
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not a valid email address"):
        normalize_email(raw)


@pytest.mark.parametrize(
    "spelling",
    [
        "株式会社サンプル商事",
        "サンプル商事株式会社",
        "(株)サンプル商事",
        "（株）サンプル商事",
        "㈱サンプル商事",
        "㍿サンプル商事",
        "サンプル商事 (株)",
        "サンプル　商事",
        "ｻﾝﾌﾟﾙ商事",
        "サンプル・商事",
    ],
)
def test_spellings_of_one_company_share_a_key(spelling: str) -> None:
    assert company_key(spelling) == "サンプル商事"


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("Example Co., Ltd.", "example"),
        ("ＥＸＡＭＰＬＥ ＣＯ．，ＬＴＤ．", "example"),
        ("Example Inc.", "example"),
        ("Zinc Systems", "zincsystems"),  # "inc" inside a word is part of the name
        ("有限会社やまだ製作所", "やまだ製作所"),
        ("一般社団法人 日本サンプル協会", "日本サンプル協会"),
    ],
)
def test_legal_forms_and_case_are_ignored(spelling: str, expected: str) -> None:
    assert company_key(spelling) == expected


def test_different_companies_keep_different_keys() -> None:
    assert company_key("サンプル商事") != company_key("サンプル物産")


def test_a_name_that_is_only_a_legal_form_has_no_key() -> None:
    assert company_key("株式会社") is None
    assert company_key("  ") is None


def test_text_is_nfkc_trimmed_and_spaces_collapsed() -> None:
    assert normalize_text("　メール　アドレス ") == "メール アドレス"
