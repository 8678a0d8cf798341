"""One Powertools setup for every function: the business flow's metrics (CloudWatch EMF, in the
function's log, no API call) and the tracer.

Each ``functions/*/app.py`` flushes the metrics with ``@metrics.log_metrics`` and traces with
``@tracer.capture_lambda_handler``; the feature's entry module counts what happened with ``count``
and ``count_by``. The namespace and the ``service`` dimension come from the template's
``POWERTOOLS_METRICS_NAMESPACE`` and ``POWERTOOLS_SERVICE_NAME``; the dashboard reads them.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE = "Reawake"

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE)
tracer = Tracer()  # off outside Lambda (and on the local stack); on AWS, Tracing: Active sends it to X-Ray


def count(name: str, value: int = 1) -> None:
    """Add to a count flushed at the end of the invocation (nothing for 0)."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_by(name: str, reason: str, value: int = 1) -> None:
    """A count with a ``reason`` dimension (alerts suppressed by reason), written at once."""
    if not value:
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace,
                       default_dimensions=metrics.default_dimensions) as metric:
        metric.add_dimension(name="reason", value=reason)
