"""`python -m agentkit`: the `agentkit` command line."""

from .cli.main import main

raise SystemExit(main())
