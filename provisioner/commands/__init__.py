"""One module per command (molecule's ``command/`` layout): each exposes ``run(ctx, ...) -> Report``.

The Click layer (provisioner/cli.py) only reads parameters and calls these; none of them imports
Click. What they share (the context, loading cases, the one error-to-report path) is in ``base``.
"""
