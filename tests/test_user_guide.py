"""The runnable examples (``>>>``) of the user guide pages run as doctests."""

import doctest
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "doc" / "user_guide"
PAGES = sorted(p.name for p in GUIDE.glob("*.rst") if ">>>" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES)
def test_user_guide_examples_run(page):
    pytest.importorskip("pandas")
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testfile(
        str(GUIDE / page), module_relative=False, optionflags=flags, verbose=False
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) of {page} failed (see the output)"


def test_pipeline_recipe_is_in_the_guide():
    assert "dla.rst" in PAGES
