"""`agentkit._api.aiohttp_driver`: the default transport's session, driven directly.

Its round trips run end to end in `test_client.py` (the loopback tests); this pins the loop rule.
"""

import httpx
import pytest

from agentkit._api.aiohttp_driver import AiohttpDriver
from agentkit._api.client_base import ClientBase
from agentkit._errors import UsageError


def test_the_aiohttp_driver_refuses_to_run_outside_asyncio() -> None:
    client = ClientBase(api_key="sk-ant-test")
    driver = AiohttpDriver(httpx.MockTransport(lambda r: httpx.Response(200)), client._timeout)
    with pytest.raises(UsageError, match="needs asyncio"):
        driver.check_loop()
