"""Continuity reasoning on cuts: the script supervisor's and the colourist's checks, with fixes.

Pure work on a Cut (two shot specs and their boundary frames): no Ray, no
storage, no network. The farm builds a Cut when both boundary frames of two
adjacent shots exist, calls check.check_cut, applies the fixes (Grade at
mastering, Requeue by re-rendering and checking again, Review by a person),
and renders the report.

Nothing is re-exported here: importing `pipelines.continuity.findings` (as the
orchestrator's pure core does) must not load the checks, which need torch.
Import from the module that defines a name: check, cut, findings, report, rules.
"""
