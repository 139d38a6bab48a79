"""`python -m essay_assets.cli ...` is the `essays` command."""

from essay_assets.cli.main import console_main

console_main()
