"""`RunContext.idempotency_key` (`_tools/context.py`): a key an HTTP header takes as it is,
never one pair's and another's, and the same as before for the run ids it always suited."""

from __future__ import annotations

import random
from urllib.parse import unquote

import h11
import httpx
import pytest

from agentkit import RunContext
from agentkit._tools.context import idempotency_key

AWKWARD = [
    "r1\u203atoolu_p1",  # a sub-run's id (`journal.sub_run_id`)
    "r1\u203atoolu_p1\u203atoolu_c1",
    "commandes-\u00e9t\u00e9",
    "\u6ce8\u6587-7",
    "orders-\U0001f4b3",
    "tab\there",
    "line\nbreak",
    "cr\r\nlf",
    "del\x7f",
    "100%",
    "%E2%80%BA",
    " leading",
    "  two leading",
    "bad\ud800surrogate",  # a DBOS workflow id is not checked as a store's run id is
]


def sent(key: str) -> bytes:
    """The request line and headers h11 writes for a request carrying `key` (it refuses what
    a header may not hold, a space at either end included)."""
    headers = httpx.Headers({"Idempotency-Key": key})  # encodes as ASCII, as httpx sends it
    client = h11.Connection(h11.CLIENT)
    data = client.send(h11.Request(method="POST", target="/charges",
                                   headers=[("Host", "127.0.0.1"), *headers.raw]))
    assert data is not None
    return data


@pytest.mark.parametrize("run_id", AWKWARD)
def test_a_key_goes_into_an_http_header_as_it_is(run_id: str) -> None:
    # A sub-run's tools got "r1›toolu_p1:toolu_s1": httpx raised UnicodeEncodeError in the
    # user's tool, so the charge failed unless the user encoded the key by hand.
    key = RunContext(deps=None, run_id=run_id, tool_use_id="toolu_s1").idempotency_key
    assert key is not None and key.isascii() and key.isprintable() and "%" in key
    assert key == key.strip() and key.endswith(":toolu_s1")
    assert f"Idempotency-Key: {key}\r\n".encode() in sent(key)


@pytest.mark.parametrize(
    "run_id", ["orders-2026-12-06", "a:b", "trailing ", "in side", "~!@#$^&*()[]{}<>?/|\\'\"`"]
)
def test_a_printable_ascii_run_id_without_a_percent_keeps_its_key(run_id: str) -> None:
    # A run in flight across the upgrade sends the same key when it repeats a call.
    key = RunContext(deps=None, run_id=run_id, tool_use_id="toolu_01A").idempotency_key
    assert key == f"{run_id}:toolu_01A"
    sent(key)


def test_a_key_is_the_tool_use_id_outside_a_durable_run() -> None:
    assert RunContext(deps=None, tool_use_id="toolu_01A").idempotency_key == "toolu_01A"
    assert RunContext(deps=None, run_id="r1").idempotency_key is None  # not a tool call
    # A served MCP call's `tool_use_id` is the key its client sent: an agentkit client's is
    # kept, escapes and all; one a header cannot take is encoded.
    assert idempotency_key(None, "r1%E2%80%BAtoolu_p1:toolu_s1") == "r1%E2%80%BAtoolu_p1:toolu_s1"
    assert idempotency_key(None, "r1\u203at:toolu_s1") == "r1%E2%80%BAt:toolu_s1"
    assert idempotency_key(None, " k ") == "%20k%20"
    assert idempotency_key(None, "   ") == "%20%20%20"


COLLIDING = [  # pairs a plainer scheme gives one key
    ("a:b", "c"), ("a", "b:c"),  # the separator inside either part
    ("\u00e9", "t"), ("%C3%A9", "t"), ("%25C3%25A9", "t"),  # an escape and its text
    (" x", "t"), ("x", "t"), ("%20x", "t"),  # a space a header would lose
    ("a%", "t"), ("a%25", "t"),
    ("r1\u203atoolu_p1", "toolu_s1"), ("r1%E2%80%BAtoolu_p1", "toolu_s1"),
    ("r", "t "), ("r", "t"), ("r", "t%20"),
]


def test_two_pairs_never_share_a_key() -> None:
    # A shared key makes a deduplicating service drop the second, different, call.
    keys = {idempotency_key(run_id, call) for run_id, call in COLLIDING}
    assert len(keys) == len(COLLIDING)


def test_a_key_names_its_pair_alone() -> None:
    # Injective in general: the pair is read back from any key (the last `:` ends the run
    # id, and each part decodes), over random ids made of what trips encodings up.
    alphabet = ["a", "0", ":", "%", " ", "\t", "\u00e9", "\u203a", "\U0001f4b3", "\x7f", "2"]
    rng = random.Random(9)
    for _ in range(3000):
        run_id = "".join(rng.choices(alphabet, k=rng.randint(1, 6)))
        call = "".join(rng.choices(alphabet, k=rng.randint(1, 4)))
        key = idempotency_key(run_id, call)
        assert key.isascii() and key.isprintable() and key == key.strip(" ")
        run_part, _, call_part = key.rpartition(":")
        assert (unquote(run_part), unquote(call_part)) == (run_id, call)
