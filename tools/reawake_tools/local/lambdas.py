"""The template's functions, loaded from their CodeUri + Handler and called in-process.

This is the local stand-in for the Lambda service: the HTTP gateway calls ``invoke``; moto's Lambda
(direct invokes, Step Functions tasks) reaches the same handlers through ``invoke_result``, which
answers the way the Lambda service does (a JSON payload, or an error payload and a flag).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from reawake_tools.local.iam import running_as
from reawake_tools.local.template import ROOT, resources_of

Handler = Callable[[Any, Any], Any]
log = logging.getLogger("reawake_local")


class LambdaContext:
    """What a handler's ``context`` offers (the attributes Powertools reads)."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:ap-northeast-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Functions:
    """Every AWS::Serverless::Function of the template, by logical id.

    A function's module is imported on its first invocation (a cold start) under a unique module
    name. Invocations of one function are serialized, like one warm container: handlers keep
    module-level state, and moto's conditional writes are not atomic across threads.
    """

    def __init__(self, template: dict[str, Any], prefix: str = "reawake", root: Path = ROOT) -> None:
        globals_ = template.get("Globals", {}).get("Function", {})
        self.root = root
        self.prefix = prefix
        self.specs: dict[str, dict[str, Any]] = {
            logical: {**globals_, **res["Properties"]}
            for logical, res in resources_of(template, "AWS::Serverless::Function").items()
        }
        self._handlers: dict[str, Handler] = {}
        self._locks = {logical: threading.Lock() for logical in self.specs}

    def module_path(self, logical_id: str) -> tuple[Path, str]:
        """(the handler's file, the function name in it), from CodeUri and ``Handler: app.handler``."""
        spec = self.specs[logical_id]
        module, _, attr = str(spec["Handler"]).rpartition(".")
        return self.root / str(spec["CodeUri"]) / (module.replace(".", "/") + ".py"), attr

    def _load(self, logical_id: str) -> Handler:
        path, attr = self.module_path(logical_id)
        spec = importlib.util.spec_from_file_location(f"reawake_local_fn_{logical_id}", path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"{logical_id}: cannot load {path}")
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler: Handler = getattr(module, attr)
        return handler

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Call the function's handler with event and a fresh context; exceptions propagate."""
        spec = self.specs[logical_id]
        with self._locks[logical_id], running_as(logical_id):  # its own role, clients and secrets
            handler = self._handlers.get(logical_id)
            if handler is None:
                handler = self._handlers[logical_id] = self._load(logical_id)
            context = LambdaContext(f"{self.prefix}-{logical_id}", int(spec.get("MemorySize", 128)),
                                    int(spec.get("Timeout", 3)))
            return handler(event, context)

    def function_name(self, logical_id: str) -> str:
        """The function's name in the emulator's Lambda (``<prefix>-<logical id>``)."""
        return f"{self.prefix}-{logical_id}"

    def logical_id_of(self, function_name: str) -> str | None:
        name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        for logical_id in self.specs:
            if self.function_name(logical_id) == name:
                return logical_id
        return None

    def invoke_result(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        """(payload JSON, errored, logs) as the Lambda service reports an invocation: a raised
        exception becomes ``{"errorMessage", "errorType", "stackTrace"}`` and errored=True."""
        logical_id = self.logical_id_of(function_name)
        if logical_id is None:
            error = {"errorMessage": f"no template function is named {function_name!r}",
                     "errorType": "ResourceNotFoundException"}
            return json.dumps(error), True, ""
        try:
            result = self.invoke(logical_id, event)
            return json.dumps(result, ensure_ascii=False, default=str), False, ""
        except Exception as exc:
            trace = traceback.format_exc()
            log.error("%s failed:\n%s", logical_id, trace)
            failure: dict[str, Any] = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                     "stackTrace": traceback.format_tb(exc.__traceback__)}
            return json.dumps(failure, ensure_ascii=False), True, trace
