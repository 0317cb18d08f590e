"""Counters of rate and usage limits outside the database: in this process's memory, or in Redis."""
