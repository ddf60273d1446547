"""The lab's tests use the product's test fixtures (a small MNIST, trained copies of the product) and
its tiers: tests/conftest.py's, re-exported here, where pytest looks for them."""

from tests.conftest import (  # noqa: F401
    mirror,
    pytest_collection_modifyitems,
    trained_project,
    trained_template,
)
