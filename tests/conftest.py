"""Project-wide test setup.

``factories`` builds small datasets from real NIfTI bytes; ``conftest_hub`` starts the local
Hub-protocol server (``hubserver.py``) and runs real ``huggingface_hub`` clients against it;
``conftest_corpus`` gives the public BIDS examples (``corpus.py``, skipped where absent) and the
BIDS validator (``validator.py``).
"""

pytest_plugins = ["conftest_hub", "conftest_corpus"]
