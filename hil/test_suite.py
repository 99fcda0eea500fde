"""The HIL suite as pytest tests: every check of hil/checks/, in suite order, on the --rig's device."""
import pytest

from hil.checks import all_checks
from hil.plugin import run_hil_check


@pytest.mark.parametrize("check", [pytest.param(c, id=c.full_name) for c in all_checks()])
def test_check(rig_session, hil_record, check):
    run_hil_check(rig_session, hil_record, check)
