"""The turn pipeline: admit, plan, context, the model/tool loop, record, notify (docs/architecture.md)."""
