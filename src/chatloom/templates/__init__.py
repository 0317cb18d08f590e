"""Liquid templates of assistant prompts, rendered as Vapi renders them with LiquidJS, within bounds."""
