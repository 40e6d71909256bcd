"""Extra ``mmh`` subcommands, one module per command family (data, score, leaderboard, ...).

Each public module defines ``COMMANDS``: a list of click commands or groups, added to ``mmh`` by
:func:`mmharness.cli.main` at start-up. Modules import only click and the standard library at
module level; everything else is imported inside the command functions.
"""
