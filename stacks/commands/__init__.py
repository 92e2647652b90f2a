"""One module per CLI command: `configure(parser)` adds its arguments, `run(args)` returns the exit code."""
