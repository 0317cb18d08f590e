"""Squads and hand-offs: which assistant answers, and how a conversation passes from one to another."""
