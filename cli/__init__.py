"""The `specgoods` command line: the outermost shell, the one package allowed to start the web and the worker.

`cli.main` holds the `main` group and registers every command module; `cli.shell` is what they all share. Nothing
in `workflow`, `web`, `tasks` or `config` imports this package (an import-linter contract).
"""
