"""Processes only: the workers each implementation trains in, their pools, and the runner that
feeds cases through them to the judge (comparisons/judge/) while the judging itself stays pure.

    workers   one process per implementation: timeouts, recycling, no orphans, warm reuse
    runner    every case through every implementation, judged: a Session
    command   the worker of an implementation that is a command, in any language
Importing this package imports none of them: an implementation's worker process loads
`workers` alone.
"""
