"""The propensity estimators are importable without torch (it loads only when a model trains)."""

import subprocess
import sys


def test_importing_propensity_does_not_import_torch():
    code = "import sys, skultr.propensity; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
