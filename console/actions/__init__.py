"""Cluster actions (submit, scale, preempt, delete) shared by the console's keys and the CLI verbs.

Entry point: `session.ActionSession` — `plan_submit/plan_scale/plan_preempt/plan_delete` return an
`plan.ActionPlan` (manifests or diff, problems, permission verdict, dry run, KAI preview) to show, and
`apply(plan, confirm=...)` sends it and writes the audit entry. No Textual here.
"""
