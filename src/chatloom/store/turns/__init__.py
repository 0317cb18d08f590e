"""Recording a finished turn: one interface (`TurnWriter.record`), one module per rule that the write
must respect, each with its fast statements (asyncpg, SQLite's one-trip driver) beside the portable one."""
