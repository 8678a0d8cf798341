"""Reports: did reawakening work?

- ``counters``: the one hook every feature calls on its write path (a constant number of small
  counter updates, written only after the write they count succeeded) and the counter adapter;
- ``counting``: what a batch of committed events counts, and the small marks on the lead that
  keep each count to once (pure);
- ``holdout``: deterministic holdout assignment and the statistics (Wilson / Newcombe interval,
  sample size, a Japanese verdict) (pure);
- ``model``: the report read from the counters (O(days × scopes) items, no event or lead scan);
- ``crosstab``: the analysis cross-tab over the leads index (one scan);
- ``html`` / ``csvout``: rendering; ``entry``: the ReportFunction and the CLI's call.
"""
