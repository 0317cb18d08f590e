"""Background work: durable jobs in the server's database (`store/jobs.py`), run by any server process.

`runner.JobRunner` claims due jobs with leases, runs each with its kind's handler, retries failures with
backoff and runs recurring duties once per period across all processes. It knows no engine: handlers are
plain async functions of a `Job`, wired in `api/app.py`.
"""
