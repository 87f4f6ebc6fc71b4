"""What the registry does, one package per concern, each taking a session (and a storage)
and never committing: the caller's unit of work does.

From the bottom up: `ledger` (audit log, tokens), `inspection` (what an upload is),
`jobs` (conversion jobs and the status they give a version), `catalog` (models, versions,
aliases, uploads, artifacts, lineage). A package imports only those below it.
"""
