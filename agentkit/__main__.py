"""`python -m agentkit`: the `agentkit` command line."""

from ._cli import main

raise SystemExit(main())
