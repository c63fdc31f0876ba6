"""The runnable examples in the docstrings run and print what they say."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["pricer.money", "pricer.engine", "pricer.contract", "pricer.schedules",
           "pricer.cms_files", "pricer.locality", "pricer.synth", "pricer.result",
           "pricer.whatif"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
