"""Durable agent runs on DBOS (`pip install "agentkit[dbos]"`): each run a DBOS workflow,
each model call and tool call a DBOS step, checkpointed in SQLite or Postgres, recovered by
any process restarted with the same executor id (`DBOSAgent`), or resumed by running the same
code again (`HostedRuns`, what `agentkit batch --durable` uses). See the README's "Durable runs
on DBOS"."""

from .._public import present_as
from ._agent import DBOSAgent
from ._hosted import HostedRuns

__all__ = ["DBOSAgent", "HostedRuns"]

present_as(__name__, __all__, globals())
