"""Fragment: end-to-end encrypted photo album links, in three wings.

- ``viewer.crypto``: the format (docs/format.md), which both other wings use; pure, no I/O.
- ``viewer.server``: the Flask app (``create_app``), which holds only ciphertext.
- ``viewer.owner``: the owner's command line, which encrypts and publishes albums.

The server and the owner's tool never import each other (tests/test_layout.py), so each
installs without the other's dependencies (pyproject.toml's ``server`` and ``owner`` extras).
"""
