"""The segment function's actions, called by the daily state machine (statemachines/segment.asl.json):

- ``plan``: fix the run's moment and id, split the leads into shards;
- ``shard``: evaluate every definition over one parallel-scan segment of the leads;
- ``finish``: add the shards' counts up and store the run's summary.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from reawake.core import clock, counters
from reawake.core.settings import get_settings
from reawake.core.store import table_store
from reawake.segments.definitions import bucket_definitions
from reawake.segments.run import Enroller, ShardResult, run_id_for, run_shard, summarize
from reawake.segments.store import SegmentStore

logger = Logger(child=True)
MAX_SHARDS = 256  # shard results travel in the execution state (256 KB cap)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    now: AwareDatetime | None = None  # `reawake segments run --now`; the schedule sends none
    shards: int | None = Field(default=None, ge=1, le=MAX_SHARDS)


class ShardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: str
    now_ms: int
    shard: int = Field(ge=0)
    total_shards: int = Field(ge=1, le=MAX_SHARDS)


class FinishIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    run_id: str
    now_ms: int
    results: list[dict[str, Any]]


store = cache(table_store)
config = cache(bucket_definitions)


@cache
def enroller() -> Enroller:
    """Step mail's enroller (the ``Enroller`` port): the segment function enrolls the leads its
    ``sequence`` / ``owner_task`` approaches hand over, with its own cached adapters."""
    from reawake.stepmail.enroller import sequence_enroller

    return sequence_enroller(store(), get_settings().config_bucket)


def reset() -> None:
    """Forget the adapters built from the previous environment (tests, the local stack)."""
    store.cache_clear()
    config.cache_clear()
    enroller.cache_clear()


def plan(payload: dict[str, Any]) -> dict[str, Any]:
    body = PlanIn.model_validate(payload)
    settings = get_settings()
    now_ms = int(body.now.timestamp() * 1000) if body.now else clock.now_ms()
    total = body.shards or settings.segment_shards
    run_id = run_id_for(now_ms, settings.time_zone)
    logger.info("segment run planned", extra={"run_id": run_id, "shards": total})
    return {
        "run_id": run_id,
        "now_ms": now_ms,
        "total_shards": total,
        "shards": [{"run_id": run_id, "now_ms": now_ms, "shard": s, "total_shards": total} for s in range(total)],
    }


def shard(payload: dict[str, Any]) -> dict[str, Any]:
    body = ShardIn.model_validate(payload)
    settings = get_settings()
    config().refresh()  # a run uses what `reawake segments upload` put there, not a 5-minute-old copy
    definitions = config().segments()
    if not definitions:
        logger.warning("no segment definitions in the config bucket")
        return ShardResult(body.shard).to_dict()
    result = run_shard(
        store(), definitions, body.shard, body.total_shards, body.now_ms, settings.time_zone, config().scoring(),
        enroller(),
    )
    logger.info("segment shard done", extra={"run_id": body.run_id, **result.to_dict()})
    return result.to_dict()


def finish(payload: dict[str, Any]) -> dict[str, Any]:
    body = FinishIn.model_validate(payload)
    summary = summarize(body.run_id, body.now_ms, body.results)
    finished_at = run_id_for(clock.now_ms(), get_settings().time_zone)
    SegmentStore(store()).save_run(body.run_id, {**summary, "finished_at": finished_at})
    counters.set_members(store(), summary["members"], [d.id for d in config().segments()], body.now_ms,
                         get_settings().time_zone)
    logger.info(
        "segment run finished",
        extra={
            "run_id": body.run_id,
            "scanned": summary["scanned"],
            "entered": summary["entered"],
            "left": summary["left"],
        },
    )
    return summary


ACTIONS = {"plan": plan, "shard": shard, "finish": finish}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {sorted(ACTIONS)}, not {action!r}")
    return ACTIONS[str(action)](event.get("input") or {})
