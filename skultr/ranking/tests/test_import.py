"""The numpy parts of skultr.ranking import without torch (it loads with the rankers)."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "code",
    [
        "import skultr.ranking",
        "from skultr.ranking import PositionBasedModel, make_click_scorer",
        "from skultr.datasets import make_click_log, make_ranking_dataset\n"
        "X, y, qid = make_ranking_dataset(5, random_state=0)\n"
        "make_click_log(X, y, qid, n_sessions=10, random_state=0)",
    ],
)
def test_numpy_parts_do_not_import_torch(code):
    check = f"import sys\n{code}\nprint('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_rankers_load_on_first_use():
    code = (
        "import sys, skultr.ranking as r\n"
        "assert 'torch' not in sys.modules\n"
        "assert r.DLARanker.__name__ == 'DLARanker' and 'DLARanker' in dir(r)\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"
