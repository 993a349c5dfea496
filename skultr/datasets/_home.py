"""Where the loaders of real datasets look for their files."""

import os
from pathlib import Path


def _data_root(data_home, layout):
    """``data_home``, else the ``SKULTR_DATA`` environment variable, as a Path.

    ``layout`` describes the expected files, for the error raised when neither is set.
    """
    root = data_home if data_home is not None else os.environ.get("SKULTR_DATA")
    if root is None:
        raise FileNotFoundError(
            "No data folder given: pass data_home=<folder> or set the SKULTR_DATA "
            f"environment variable to a folder laid out as {layout}."
        )
    return Path(root).expanduser()
