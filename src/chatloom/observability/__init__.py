"""Metrics, access logs and request ids: the hooks the server calls, costing nothing when switched off.

Sits beside `outbound` in the layers: providers, tools, webhooks, the engine and the API may call it; it
imports nothing of ours but `domain`.
"""
