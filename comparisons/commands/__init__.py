"""One module per command of `python -m comparisons` (comparisons/cli.py parses and dispatches):
each has HELP, add_arguments(parser) and command(args) -> exit status; the behaviour a test
calls without the parser is in its functions (`verify.verify`, `figures.check`, ...).
`common` holds what they share. `main_job` is the command without a name."""
