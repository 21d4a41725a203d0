"""The CouchDB-compatible `/db/` each user replicates with, and its push pipeline.

| module | owns |
|---|---|
| `routes.py` | the endpoints of `/db/` |
| `push.py` | the push pipeline, step by step |
| `quarantine.py` | what is kept of a push: quarantine, write log, rejection notices |
| `validation.py` | schema verdicts, in worker processes for large pushes |
| `scope.py` | the scope index: where each document sits, in the gateway's own sequence |
| `local_docs.py` | each user's `_local` checkpoints |

May import `server.policy`, `server.accounts`, `server.services`, `sync` and `schemas`.
"""
