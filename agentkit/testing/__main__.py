"""`python -m agentkit.testing serve`: the fake Messages API on 127.0.0.1."""

from . import main

raise SystemExit(main())
