"""Project-wide test setup.

``factories`` builds small datasets from real NIfTI bytes; ``conftest_hub`` starts the local
Hub-protocol server (``hubserver.py``) and runs real ``huggingface_hub`` clients against it.
"""

pytest_plugins = ["conftest_hub"]
