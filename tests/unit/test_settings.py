"""Settings: one model per function, validated from the environment at cold start; nothing guessed."""

from __future__ import annotations

import json
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from reawake.core.settings import (
    AlertFunctionSettings,
    CallListFunctionSettings,
    Locale,
    ReportFunctionSettings,
    SegmentFunctionSettings,
    Settings,
    SettingsError,
    StepmailFunctionSettings,
    TrackFunctionSettings,
    from_environment,
    get_settings,
)
from reawake_tools.local.template import load_template
from tests.conftest import ROOT

BASE = {
    "TABLE_NAME": "prod-Table-1ABC",
    "CONFIG_BUCKET": "prod-config",
    "SIGNING_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:signing",
    "API_KEY_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:api-key",
    "SITE_ORIGINS": "https://www.example.co.jp/, https://shop.example.co.jp:443",
    "TIME_ZONE": "Asia/Tokyo",
}
MODELS = {
    "TrackFunction": TrackFunctionSettings,
    "SegmentFunction": SegmentFunctionSettings,
    "AlertFunction": AlertFunctionSettings,
    "CallListFunction": CallListFunctionSettings,
    "StepmailFunction": StepmailFunctionSettings,
    "ReportFunction": ReportFunctionSettings,
}


def test_the_environment_is_read_into_typed_settings() -> None:
    env = {**BASE, "EVENT_RETENTION_DAYS": "30", "ALERT_WINDOW_HOURS": "6", "CALL_LIST_LOOKBACK_DAYS": "7",
           "LINK_REBASE": "https://www.example.co.jp=http://127.0.0.1:8788", "UNRELATED": "x"}
    settings = from_environment(TrackFunctionSettings, env)
    assert settings.table_name == "prod-Table-1ABC"
    assert settings.site_origins == ("https://www.example.co.jp", "https://shop.example.co.jp")
    assert settings.time_zone == ZoneInfo("Asia/Tokyo") and settings.event_retention_days == 30
    assert settings.link_rebase == (("https://www.example.co.jp", "http://127.0.0.1:8788"),)
    assert from_environment(AlertFunctionSettings, env).alert_window_hours == 6
    assert from_environment(CallListFunctionSettings, env).call_list_lookback_days == 7


@pytest.mark.parametrize("model", list(MODELS.values()))
def test_a_missing_table_name_fails_loudly_instead_of_defaulting(model: type[Settings]) -> None:
    env = {k: v for k, v in BASE.items() if k != "TABLE_NAME"}
    with pytest.raises(SettingsError, match="TABLE_NAME: missing"):
        from_environment(model, env)
    with pytest.raises(SettingsError, match="TABLE_NAME"):
        from_environment(model, {**env, "TABLE_NAME": ""})
    assert from_environment(model, BASE).table_name == "prod-Table-1ABC"  # the positive control


def test_every_wrong_variable_is_named() -> None:
    env = {**BASE, "TIME_ZONE": "Asia/Tokio", "EVENT_RETENTION_DAYS": "a year"}
    del env["SIGNING_SECRET_ARN"]
    with pytest.raises(SettingsError) as caught:
        from_environment(TrackFunctionSettings, env)
    message = str(caught.value)
    assert message.startswith("TrackFunctionSettings:")
    assert "TIME_ZONE" in message and "'Asia/Tokio' is not an IANA time zone" in message
    assert "EVENT_RETENTION_DAYS" in message and "SIGNING_SECRET_ARN: missing" in message


def test_the_offline_tools_need_no_table() -> None:
    assert from_environment(Locale, {}).time_zone == ZoneInfo("Asia/Tokyo")
    with pytest.raises(SettingsError):
        from_environment(Settings, {})


def test_settings_are_validated_once_until_the_cache_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    first = get_settings(TrackFunctionSettings)
    monkeypatch.setenv("TABLE_NAME", "other")
    assert get_settings(TrackFunctionSettings) is first
    assert get_settings().table_name == "other"  # a different model is read on its first use
    get_settings.cache_clear()
    assert get_settings(TrackFunctionSettings).table_name == "other"
    get_settings.cache_clear()


@pytest.mark.parametrize(("logical_id", "model"), list(MODELS.items()))
def test_the_template_gives_each_function_what_its_model_requires(logical_id: str, model: type[Settings]) -> None:
    template = load_template()
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    variables.update(template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {}))
    required = {f.alias for f in model.model_fields.values() if f.is_required()}
    assert required <= set(variables), f"{logical_id}: template.yaml does not set {required - set(variables)}"
    assert {"TABLE_NAME", "CONFIG_BUCKET"} <= required


def cold_starts(env: dict[str, str]) -> dict[str, str]:
    """Import every functions/<name>/app.py (a cold start) in a fresh interpreter: name -> "ok" or the error."""
    code = (
        "import importlib.util, json, pathlib, sys\n"
        "result = {}\n"
        f"for path in sorted(pathlib.Path({str(ROOT / 'functions')!r}).glob('*/app.py')):\n"
        "    spec = importlib.util.spec_from_file_location('app_' + path.parent.name, path)\n"
        "    try:\n"
        "        spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "        result[path.parent.name] = 'ok'\n"
        "    except Exception as exc:\n"
        "        result[path.parent.name] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps(result))\n"
    )
    env = {**env, "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "ap-northeast-1", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    result: dict[str, str] = json.loads(done.stdout)
    return result


def test_a_function_without_table_name_fails_its_cold_start_by_name() -> None:
    without = cold_starts({k: v for k, v in BASE.items() if k != "TABLE_NAME"})
    assert set(without) == {"track", "segment", "alert", "calllist", "stepmail", "report"}
    for name, outcome in without.items():
        assert outcome.startswith("SettingsError: ") and "TABLE_NAME: missing" in outcome, name
    assert set(cold_starts(BASE).values()) == {"ok"}  # the positive control: with it, every function loads
