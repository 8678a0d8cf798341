"""Reports: did reawakening work?

- the counters it reads are written by every feature on its write path: ``reawake.core.counters``
  (the hook and the counter adapter) and ``reawake.core.counting`` (what a batch of events counts);
- ``holdout``: the statistics of the holdout comparison (Wilson / Newcombe interval, sample size,
  a Japanese verdict) (pure); the segment run assigns the arms (``reawake.segments.approaches``);
- ``model``: the report read from the counters (O(days × scopes) items, no event or lead scan);
- ``crosstab``: the analysis cross-tab over the leads index (one scan);
- ``html`` / ``csvout``: rendering; ``entry``: the ReportFunction and the CLI's call.
"""
