"""The command line: ``python -m assistant`` (main), the options several subcommands share,
and the study commands."""
