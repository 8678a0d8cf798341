"""The whole system on one machine: moto on loopback, template.yaml's resources, the HTTP API in
front of the real handlers, Step Functions executing for real with the handlers as their Lambda
tasks, the template's schedules firing on the stack clock, the demo site, and Japanese sample data.

    with LocalStack() as stack:
        print(stack.api_url, stack.site_url, stack.endpoint_url)

State lives in this process's memory; with ``state_file`` (what `reawake local` passes) the tables,
secrets and clock are saved there at stop and restored at the next start (``reawake_tools.local.state``).
The parts run as services (``start``/``stop``) in ``LocalStack.services``; a stream consumer,
a scheduler or an outbox is one more service started after the resources exist.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from socketserver import BaseServer
from typing import Any, Protocol

from reawake.core.store import Store
from reawake_tools.local import clock as stack_clock
from reawake_tools.local import state
from reawake_tools.local.apigw import routes_of
from reawake_tools.local.clock import Clock, ClockServer
from reawake_tools.local.connect import emulator_environment, reset_caches
from reawake_tools.local.gateway import Gateway, GatewayServer, cors_of
from reawake_tools.local.lambdas import Functions
from reawake_tools.local.scheduler import Scheduler, StackTarget, schedules_of
from reawake_tools.local.site import SITE_DIR, SiteServer
from reawake_tools.local.stepfunctions import create_state_machines, enable_execution, register_functions
from reawake_tools.local.template import (
    ROOT,
    Created,
    create_resources,
    function_environment,
    load_template,
    resources_of,
)

log = logging.getLogger("reawake_local")

HOST = "127.0.0.1"
SEND_SLOT_SCHEDULE = "SendSlotStateMachine.Slot"  # plays every send slot with work, in order
SAMPLES_DIR = ROOT / "config" / "sample"
CONFIG_DIR = ROOT / "config"
TEMPLATES_DIR = ROOT / "templates"


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ServerThread:
    """A socketserver served from a daemon thread."""

    def __init__(self, name: str, server: BaseServer) -> None:
        self.name = name
        self.server = server
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"reawake-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()


class Emulator:
    """moto's server on loopback, on a free port."""

    name = "emulator"

    def __init__(self, host: str = HOST) -> None:
        from moto.server import ThreadedMotoServer

        from reawake_tools.local import moto_patches

        moto_patches.apply()  # TransactWriteItems without copying whole tables
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
        self.endpoint_url = ""
        self.reset_on_stop = True

    def start(self) -> None:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        from reawake_tools.local import inprocess

        server: Any = self._server._server  # werkzeug's, serving moto's WSGI application
        inprocess.install(self.endpoint_url, server.app)  # this process's own calls: no loopback HTTP

    def stop(self) -> None:
        # moto's backends and config are process-wide: empty them so a later stack (or mock_aws) in
        # this process starts clean (not when the process ends next: dropping a large table's
        # objects takes seconds).
        from reawake_tools.local import moto_patches

        moto_patches.route_lambda(None)
        from reawake_tools.local import inprocess

        inprocess.uninstall(self.endpoint_url)
        if not self.reset_on_stop:
            self._server.stop()
            return
        try:
            off = json.dumps({"stepfunctions": {"execute_state_machine": False}}).encode()
            config = urllib.request.Request(f"{self.endpoint_url}/moto-api/config", data=off,  # noqa: S310
                                            method="POST", headers={"content-type": "application/json"})
            urllib.request.urlopen(config, timeout=5).close()  # noqa: S310 - our own loopback URL
            reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
            urllib.request.urlopen(reset, timeout=5).close()  # noqa: S310 - our own loopback URL
        except OSError as exc:
            log.warning("could not reset the emulator: %s", exc)
        self._server.stop()


class LocalStack:
    def __init__(self, api_port: int = 0, site_port: int = 0, load_samples: bool = True, host: str = HOST,
                 prefix: str = "reawake", site_dir: Path = SITE_DIR, samples_dir: Path = SAMPLES_DIR,
                 parameters: dict[str, Any] | None = None, speed: float = 1.0, clock_start: datetime | None = None,
                 config_dir: Path = CONFIG_DIR, report: Callable[[str], None] = print,
                 templates_dir: Path = TEMPLATES_DIR, outbox_dir: Path | None = None,
                 state_file: Path | None = None, save_in_background: bool = False) -> None:
        """parameters: template parameter overrides (LogLevel, TimeZone, ...); SiteOrigins is the demo site.
        speed and clock_start: the stack clock (x speed from clock_start, default now). config_dir:
        segments.yaml and scoring.yaml, uploaded to the config bucket. report: one-line notices
        (a schedule fired). templates_dir: the mail templates, checked and uploaded at start with
        config_dir's mail.yaml, owners.yaml, sequences/ and stepmail.yaml. outbox_dir: where sent
        mail is written (default: ``outbox/`` beside stack.json). state_file: where the state is
        saved at stop and restored from at start (None: memory only); a restored clock resumes
        unless clock_start is given. save_in_background: save from a forked process at stop, so
        the caller can exit at once (`reawake local`; the next start waits for it); the emulator's
        process-wide backends are then left as they are."""
        self.api_port = api_port
        self.site_port = site_port
        self.load_samples = load_samples
        self.host = host
        self.prefix = prefix
        self.site_dir = site_dir
        self.samples_dir = samples_dir
        self.parameters = dict(parameters or {})
        self.clock = Clock(speed, clock_start)
        self._clock_given = clock_start is not None
        self.state_file = state_file
        self.restored: state.Saved | None = None
        self._cancelled: Callable[[], bool] = state.never
        self.saved: state.Saved | None = None  # what stop() wrote (or is writing: saver_pid)
        self.save_in_background = save_in_background
        self.saver_pid: int | None = None
        self._secrets: dict[str, str] = {}
        self._table_names: dict[str, str] = {}
        self._up = False
        self.config_dir = config_dir
        self.templates_dir = templates_dir
        self.outbox_dir = outbox_dir
        self.report = report
        self.state_machines: dict[str, str] = {}
        self.functions: dict[str, str] = {}
        self.uploaded: list[str] = []
        self.scheduler: Scheduler | None = None
        self.clock_url = ""
        self.on_change: Callable[[], None] | None = None  # e.g. rewrite stack.json
        self.api_url = self.site_url = self.endpoint_url = ""
        self.services: list[Service] = []
        self.environment: dict[str, str] = {}
        self.created = Created()
        self.samples: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.stop_timings: dict[str, float] = {}  # seconds per service stopped, and "save"
        self._saved_env: dict[str, str | None] = {}
        self.enforcer: Any = None  # reawake_tools.local.iam.Enforcer, once the resources exist

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, cancelled: Callable[[], bool] = state.never) -> LocalStack:
        """cancelled: asked while the saved state is waited for and read, and between the start's
        steps; True stops the start there (state.Cancelled), nothing saved over the kept state."""
        self._cancelled = cancelled
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        began = time.perf_counter()
        check_config(self.config_dir)  # before anything starts: a bad config fails fast
        # Bind both ports first: the site's origin is a template parameter (CORS, redirect allow-list).
        site = SiteServer(self.host, self.site_port, self.site_dir)
        self.services.append(ServerThread("site", site))
        api = GatewayServer(self.host, self.api_port)
        self.services.append(ServerThread("api", api))
        self.site_url = site.url
        self.api_url = f"http://{self.host}:{api.server_address[1]}"
        site.api_url = self.api_url

        emulator = Emulator(self.host)
        emulator.start()
        self.services.insert(0, emulator)
        self.endpoint_url = emulator.endpoint_url
        self._set_env(emulator_environment(self.endpoint_url))
        self._lap("emulator", began)
        if self.state_file is not None:
            state.wait_for_saver(self.state_file, cancelled=self._cancelled)
            self.restored = state.load(self.state_file, self._cancelled)
            if self.restored is not None and not self._clock_given:
                self.clock = Clock(self.clock.speed, datetime.fromtimestamp(self.restored.clock, UTC))
            self._lap("state", began)

        from reawake.core import aws

        template = load_template()
        origins = [self.site_url, self.site_url.replace(f"//{self.host}:", "//localhost:")]
        parameters = {**self.parameters, "SiteOrigins": origins}
        self.created = create_resources(aws.client, self.prefix, parameters, template)
        if self.restored is not None:
            state.restore(self.restored, self._names(template, "AWS::DynamoDB::Table"),
                          self._names(template, "AWS::SecretsManager::Secret"), aws.client)
        if self.state_file is not None:
            self._secrets = state.capture_secrets(self._names(template, "AWS::SecretsManager::Secret"), aws.client)
        for logical in resources_of(template, "AWS::Serverless::Function"):
            self.environment.update(function_environment(template, self.created, logical))
        self._set_env(self.environment)
        self._lap("resources", began)
        self._check_cancelled()

        functions = Functions(template, self.prefix)
        api.gateway = Gateway(routes_of(template), functions, cors_of(template, self.created))
        self._start_workflows(template, functions, emulator.endpoint_url)
        from reawake_tools.local import iam  # each function under its own role from here on

        self.enforcer = iam.install(iam.Enforcer(template, self.created, self.prefix))
        self._lap("workflows", began)
        from reawake.segments.definitions import upload_config

        # Validated by check_config above (and again here): only a good config is uploaded.
        self.uploaded = upload_config(aws.client("s3"), self.environment["CONFIG_BUCKET"], self.config_dir)
        self.uploaded += self._upload_mail()
        self._lap("mail", began)
        self._check_cancelled()
        for service in self.services[1:]:
            service.start()
        if self.load_samples and self.restored is None:  # a restored stack has its data (samples included)
            self.samples = load_sample_data(self.store(), self.samples_dir, self.clock.now_ms())
            self._lap("samples", began)
        self._table_names = self._names(template, "AWS::DynamoDB::Table")
        self._up = True
        self._lap("total", began)
        log.info("local stack up in %.2f s %s", self.timings["total"], self.timings)

    def _start_workflows(self, template: dict[str, Any], functions: Functions, endpoint_url: str) -> None:
        """Step Functions executing with the handlers as Lambda tasks; the clock; the schedules."""
        from reawake.core import aws
        from reawake_tools.local import moto_patches

        stack_clock.install(self.clock)
        moto_patches.follow_clock()
        moto_patches.route_lambda(functions.invoke_result)
        self._set_env(enable_execution(endpoint_url))
        self.functions = register_functions(aws.client, functions, template, self.created)
        self.state_machines = create_state_machines(aws.client, template, self.created, self.prefix)
        # Now that the state machines exist, the variables that name them resolve; links in mail
        # point at this stack's API, and the sample templates' production site at the demo site.
        from reawake.mail.links import REBASE_ENV, local_rebase

        for logical in resources_of(template, "AWS::Serverless::Function"):
            self.environment.update(function_environment(template, self.created, logical))
        self.environment["PUBLIC_API_URL"] = self.api_url
        self.environment["POWERTOOLS_METRICS_DISABLED"] = "true"  # EMF lines would flood the terminal
        self._set_env(self.environment)
        # Only this process's: stack.json's environment is what other processes take over, and a
        # checked template elsewhere must not be rebased onto this stack's site.
        self._set_env({REBASE_ENV: local_rebase(self.site_url)})
        from reawake.core import clock as handler_clock

        handler_clock.set_source(self.clock.now_ms)  # the handlers' now (reawake.core.clock)
        from reawake_tools.local.connect import stack_file
        from reawake_tools.local.outbox import Outbox

        self.outbox_dir = self.outbox_dir or stack_file().parent / "outbox"
        self.services.append(Outbox(self.outbox_dir, self.clock.now_ms, keep=self.restored is not None))
        server = ClockServer(self.host, 0, self.clock)
        self.clock_url = server.url
        self.services.append(ServerThread("clock", server))
        target = StackTarget(aws.client("stepfunctions"), self.state_machines, functions.invoke)
        self.scheduler = Scheduler(schedules_of(template, self.created), self.clock, target, self.report,
                                   probes={SEND_SLOT_SCHEDULE: self._due_probe()})
        self.scheduler.on_fire.append(self._changed)
        self.clock.on_change(self._changed)
        self.services.append(self.scheduler)
        from reawake_tools.local.streams import StreamConsumer, mappings_of  # the template's DynamoDB stream events

        self.services.append(StreamConsumer(mappings_of(template, self.created), functions.invoke, aws.client,
                                            self.functions, trim=True))
        from reawake_tools.local.heap import HeapTrimmer  # the allocator's free pages back, every 30 s

        self.services.append(HeapTrimmer())

    def _due_probe(self) -> Callable[[datetime], datetime | None]:
        """When the earliest step-mail enrollment due by then is due (the send slots' work)."""
        from reawake.stepmail.store import StepmailStore

        stepmail = StepmailStore(self.store())

        def probe(until: datetime) -> datetime | None:
            found = stepmail.earliest_due(int(until.timestamp() * 1000))
            return None if found is None else datetime.fromtimestamp(found / 1000, UTC)

        return probe

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                log.exception("on_change failed")

    def _check_cancelled(self) -> None:
        if self._cancelled():
            raise state.Cancelled

    def stop(self) -> None:
        """Stop every service (last started first), save the state (``state_file``) once nothing
        but a handler finishing writes any more, stop the emulator, and give the process its
        environment back."""
        if self.enforcer is not None:
            from reawake_tools.local import iam

            iam.uninstall(self.enforcer)
        while len(self.services) > 1 or (self.services and not isinstance(self.services[0], Emulator)):
            self._stop_service(self.services.pop())
        if self.save_in_background and self.services and isinstance(self.services[0], Emulator):
            self.services[0].reset_on_stop = False  # the process ends next
        if self._up and self.state_file is not None:
            began = time.perf_counter()
            try:
                if self.save_in_background:
                    self.saved, self.saver_pid = state.save_in_background(
                        self.state_file, self.clock.time(), self._table_names, self._secrets)
                else:
                    self.saved = state.save(self.state_file, self.clock.time(), self._table_names, self._secrets)
            except Exception:
                log.exception("saving the state to %s failed", self.state_file)
                print(f"warning: the state could not be saved to {self.state_file}", file=sys.stderr, flush=True)
            self.stop_timings["save"] = round(time.perf_counter() - began, 2)
        self._up = False
        while self.services:
            self._stop_service(self.services.pop())
        for name, old in self._saved_env.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        self._saved_env.clear()
        if stack_clock.current() is self.clock:
            stack_clock.install(None)
            from reawake.core import clock as handler_clock

            handler_clock.set_source(None)
        reset_caches()

    def _stop_service(self, service: Service) -> None:
        began = time.perf_counter()
        try:
            service.stop()
        except Exception:
            log.exception("stopping %s failed", service.name)
        self.stop_timings[service.name] = round(time.perf_counter() - began, 2)

    def _names(self, template: dict[str, Any], resource_type: str) -> dict[str, str]:
        """{logical id: name or ARN} of the template's created resources of one type."""
        return {logical: str(self.created.names[logical]) for logical in resources_of(template, resource_type)
                if logical in self.created.names}

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- use ---------------------------------------------------------------------------------------

    def store(self) -> Store:
        from reawake.core.settings import get_settings

        return Store(get_settings().table_name)

    def describe(self) -> dict[str, Any]:
        """What other processes need to talk to this stack (written to .local/stack.json)."""
        names = self.created.names
        return {
            "api_url": self.api_url,
            "site_url": self.site_url,
            "endpoint_url": self.endpoint_url,
            "region": os.environ.get("AWS_DEFAULT_REGION", ""),
            "table_name": self.environment.get("TABLE_NAME", ""),
            "config_bucket": self.environment.get("CONFIG_BUCKET", ""),
            "secrets": {k: v for k, v in names.items() if str(v).startswith("arn:aws:secretsmanager:")},
            "environment": self.environment,
            "samples": self.samples,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "clock": {**self.clock.describe(), "url": self.clock_url},
            "state_machines": self.state_machines,
            "functions": self.functions,
            "schedules": self.scheduler.describe() if self.scheduler else [],
            "config": self.uploaded,
            "outbox": str(self.outbox_dir) if self.outbox_dir else "",
            "state": self.state_description(),
        }

    def state_description(self) -> dict[str, Any]:
        """Where the state is kept and what was restored (for the banner and stack.json)."""
        if self.state_file is None:
            return {}
        out: dict[str, Any] = {"file": str(self.state_file)}
        if self.restored is not None:
            out["restored_items"] = sum(self.restored.counts().values())
            out["saved_at"] = datetime.fromtimestamp(self.restored.saved_at, UTC).isoformat(timespec="seconds")
        return out

    # --- helpers -----------------------------------------------------------------------------------

    def _upload_mail(self) -> list[str]:
        """Templates, mail.yaml, owners.yaml, sequences and stepmail.yaml into the config bucket
        (checked first), and the sender verified in the emulator's SES (AWS: verify the domain)."""
        from reawake.core import aws
        from reawake.mail.config import load_mail_config_file
        from reawake.mail.templates import DirectoryTemplateStore, upload_templates
        from reawake.stepmail.store import upload_sequences

        bucket = self.environment["CONFIG_BUCKET"]
        uploaded: list[str] = []
        if self.templates_dir.is_dir() and (self.config_dir / "mail.yaml").exists():
            store = DirectoryTemplateStore(self.templates_dir, self.config_dir)
            uploaded += upload_templates(aws.client("s3"), bucket, store)
            sender = load_mail_config_file(self.config_dir / "mail.yaml").sender.from_address
            aws.client("sesv2").create_email_identity(EmailIdentity=sender)
        if (self.config_dir / "sequences").is_dir():
            scoring = self.config_dir / "scoring.yaml"
            uploaded += upload_sequences(aws.client("s3"), bucket, self.config_dir / "sequences",
                                         self.config_dir / "stepmail.yaml", scoring if scoring.exists() else None)
        return uploaded

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        reset_caches()

    def _lap(self, name: str, began: float) -> None:
        self.timings[name] = round(time.perf_counter() - began, 3)


def check_config(config_dir: Path) -> None:
    """Raise ConfigError (every problem, with file and line) when the config upload_config would
    upload is invalid."""
    from reawake.core.scoring import load_scoring_file
    from reawake.segments.rules.config import load_segment_files

    scoring_path, segments_path = config_dir / "scoring.yaml", config_dir / "segments.yaml"
    scoring = load_scoring_file(scoring_path) if scoring_path.exists() else None
    if segments_path.exists():
        load_segment_files([segments_path], scoring, str(scoring_path))


def _optional(module: str, attr: str) -> Callable[..., Any] | None:
    """A function from a module that may not exist yet (sample importers land separately)."""
    import importlib

    try:
        found: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
    return found


def load_sample_data(store: Store, samples_dir: Path = SAMPLES_DIR, now_ms: int | None = None) -> dict[str, Any]:
    """Import config/sample/leads.csv and activities.csv. A missing file or importer is skipped
    with a note; a failing import is reported, not fatal (the stack is still useful without it)."""
    from reawake.core.settings import get_settings

    settings = get_settings()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    result: dict[str, Any] = {"leads": 0, "activities": False, "notes": []}
    for label, module, attr, name in (
        ("leads", "reawake_tools.imports.leads", "import_csv_file", "leads.csv"),
        ("activities", "reawake_tools.imports.activities", "import_activities_file", "activities.csv"),
    ):
        path = samples_dir / name
        importer = _optional(module, attr)
        if importer is None or not path.is_file():
            result["notes"].append(f"{label}: skipped ({module if importer is None else path} not found)")
            continue
        try:
            importer(store, path, settings, now_ms)
        except Exception as exc:
            log.exception("importing %s failed", path)
            print(f"warning: importing {path} failed: {exc}", file=sys.stderr)
            result["notes"].append(f"{label}: failed ({exc})")
            continue
        if label == "activities":
            result["activities"] = True
    emails = sorted(lead.email for lead in store.scan_leads())
    result["leads"] = len(emails)
    result["example_email"] = emails[0] if emails else None
    return result
