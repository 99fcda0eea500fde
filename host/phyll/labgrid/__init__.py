"""Rig farms on labgrid: a phyll device on a labgrid place, and training spread over places.

labgrid (https://labgrid.readthedocs.io) is the field's engine for shared hardware: exporters
publish the serial ports of the rigs plugged into them (through ser2net), a coordinator keeps the
places and who holds them. `labgrid://PLACE` (scheme_labgrid.py, found by name like every device
scheme) acquires a place, opens its serial port over rfc2217 and releases it when closed;
client.py drives labgrid-client; farm.py spreads `phyll train --splits K` over several places.
labgrid is an optional extra (`pip install 'phyll[labgrid]'`) and brings its own pyserial fork,
with which phyll's links work as with upstream pyserial. docs/hil.md has the set-up.
"""
from .client import LabgridClient, LabgridError, SerialEndpoint

__all__ = ["LabgridClient", "LabgridError", "SerialEndpoint"]
