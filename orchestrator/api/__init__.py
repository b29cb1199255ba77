"""The REST API: a thin HTTP layer over the coordinator actor and projections of its event log.

`app.create_app` builds the FastAPI application; `server.serve_main` runs it.
Nothing here decides anything about rendering: requests become coordinator
calls (each with a timeout) and answers are read from `projection.FarmView`,
a fold of the same events the coordinator logged. Importing this package
imports nothing heavy, so the SDK can share its models.
"""
