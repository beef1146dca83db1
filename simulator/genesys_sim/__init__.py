"""Faithful local simulator of the Genesys Cloud conversation-details analytics API."""

from genesys_sim.clock import SimClock
from genesys_sim.config import SimConfig
from genesys_sim.faults import FaultRule
from genesys_sim.server import SimServer

__all__ = ["FaultRule", "SimClock", "SimConfig", "SimServer"]
