"""The CouchDB-compatible `/db/` each user replicates with, and its push pipeline.

| module | owns |
|---|---|
| `routes.py` | the endpoints of `/db/` |
| `push.py` | the push pipeline, step by step |
| `quarantine.py` | what is kept of a push: quarantine, write log, rejection notices |
| `validation.py` | schema verdicts, in the request's thread |
| `scope.py` | the scope index: where each document sits, the roster, unresolved references |
| `feeds.py` | `_changes` in every feed mode; feed slots and waking waiting feeds |
| `all_docs.py` | `_all_docs` in the caller's scope |
| `find.py` | `_find`: Mango selectors over the caller's scope |
| `multipart.py` | CouchDB's multipart/related document bodies |
| `local_docs.py` | each user's `_local` checkpoints |

May import `server.policy`, `server.accounts`, `server.services`, `sync` and `schemas`.
"""
