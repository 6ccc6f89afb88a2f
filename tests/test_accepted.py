"""What the API accepts in a `tool_result` (`_tools/accepted.py`): a refused block is left out
and said in a note in its place, the rest kept; what the API accepts passes unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from agentkit._tools.accepted import MAX_IMAGES, MAX_REQUEST_BYTES, Checked, check, check_block

PNG = {"type": "base64", "media_type": "image/png", "data": "aGk="}
TEXT = {"type": "text", "text": "the page:"}


def image(**source: Any) -> dict[str, Any]:
    return {"type": "image", "source": {**PNG, **source}}


def note(why: str) -> dict[str, str]:
    return {"type": "text", "text": f"[left out: {why}]"}


def test_text_and_what_the_api_accepts_pass_as_they_are() -> None:
    assert check("x" * 1000) is None and check("") is None and check(None) is None
    accepted: list[dict[str, Any]] = [
        TEXT, image(), {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                        "data": "JVBERi0="}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                        "data": "notes"}},
        {"type": "document", "source": {"type": "content", "content": [TEXT]}},
        {"type": "search_result", "source": "https://x", "title": "x", "content": [TEXT]},
        {"type": "a_block_type_the_api_adds_later", "x": 1},  # new types are not refused
    ]
    assert check(accepted) is None


@pytest.mark.parametrize(("block", "why"), [
    (image(media_type="image/jpg"), "an image (content block 1) whose media_type 'image/jpg' "
     "the API refuses (it takes image/jpeg, image/png, image/gif, image/webp): convert it to "
     "one of those"),
    ({"type": "image"}, "an image (content block 1) with no source: give it a source (base64 "
     "data or a url)"),
    (image(data=""), "an image (content block 1) with no data: give its source base64 data"),
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png"}},
     "an image (content block 1) with no data: give its source base64 data"),
    (image(type="path"), "an image (content block 1) whose source type 'path' the API "
     "refuses (it takes base64, url, file)"),
    ({"type": "image", "source": {"type": "url"}}, "an image (content block 1) with a url "
     "source and no url"),
    ({"type": "document", "source": {"type": "docx", "data": "x"}}, "a document (content "
     "block 1) whose source type 'docx' the API refuses (it takes base64, text, url, content, "
     "file)"),
    ({"type": "document", "source": {"type": "base64", "media_type": "text/csv", "data": "x"}},
     "a document (content block 1) with a base64 source whose media_type 'text/csv' the API "
     "refuses (it takes application/pdf)"),
    ({"type": "document", "source": {"type": "text", "media_type": "text/plain"}},
     "a document (content block 1) with no data: give its source text data"),
    ({"type": "text", "text": 7}, "the text block 1, whose text is a int, not a str"),
    ("plain", "content block 1, a str that is no content block"),
    ({"text": "no type"}, "content block 1, a dict with no type"),
])
def test_a_refused_block_is_left_out_and_said_the_rest_kept(block: object, why: str) -> None:
    checked = check([TEXT, block, image()])
    assert checked == Checked([TEXT, note(why), image()], (why,))


def test_blank_text_is_dropped_without_a_refusal_it_said_nothing() -> None:
    # The API refuses them ("text content blocks must be non-empty").
    assert check([{"type": "text", "text": ""}, TEXT, {"type": "text", "text": " \n"}]) == \
        Checked([TEXT], ())
    assert check([{"type": "text", "text": ""}]) == Checked(None, ())


def test_an_image_over_the_request_limit_is_left_out_saying_its_size_and_what_to_do() -> None:
    big = image(data="A" * (MAX_REQUEST_BYTES + 200_000))
    why = ("an image (content block 0) of 32.2 MB: the API accepts at most 32 MB a request: "
           "return a smaller or downscaled image")
    assert check([big, TEXT]) == Checked([note(why), TEXT], (why,))


def test_blocks_over_the_request_limit_together_are_left_out_largest_first() -> None:
    third = MAX_REQUEST_BYTES // 3
    small, large = image(data="A" * third), image(data="A" * (third + 10))
    checked = check([small, large, small, TEXT])
    why = ("an image (content block 1) of 10.7 MB, which with the rest is over the 32 MB a "
           "request may hold: return less (smaller images, fewer blocks)")
    assert checked == Checked([small, note(why), small, TEXT], (why,))


def test_images_past_the_most_a_request_holds_are_left_out() -> None:
    checked = check([image()] * (MAX_IMAGES + 1))
    assert checked is not None and checked.content is not None
    assert checked.content[:MAX_IMAGES] == [image()] * MAX_IMAGES
    assert checked.refused == (f"the image in content block {MAX_IMAGES} (the API accepts at "
                               f"most {MAX_IMAGES} images a request): return fewer images",)


def test_content_that_is_no_str_or_list_is_left_out() -> None:
    why = "content that is a dict, not a str or a list of content blocks"
    assert check({"type": "text", "text": "x"}) == Checked(f"[left out: {why}]", (why,))


def test_check_block_marks_a_result_with_refused_content_is_error_and_keeps_its_fields() -> None:
    block = {"type": "tool_result", "tool_use_id": "t1", "cache_control": {"type": "ephemeral"},
             "content": [TEXT, image(media_type="image/bmp")]}
    fixed = check_block(block)
    assert fixed["is_error"] is True and fixed["cache_control"] == {"type": "ephemeral"}
    assert fixed["content"][0] == TEXT and "'image/bmp'" in fixed["content"][1]["text"]
    assert block["content"][1]["source"]["media_type"] == "image/bmp"  # the given one as it was
    fine = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
    assert check_block(fine) is fine
    blank = {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": ""}]}
    assert check_block(blank) == {"type": "tool_result", "tool_use_id": "t1"}  # not an error
