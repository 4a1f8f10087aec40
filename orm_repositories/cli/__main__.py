"""Run the `orm` command line as `python -m orm_repositories.cli`."""

from orm_repositories.cli import main

main()
