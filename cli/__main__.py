"""`python -m cli`: the same as the `specgoods` console script."""

from cli.main import main

main()
