"""A synthetic demo county (Xianju, Zhejiang, with invented layers) and a patrol simulator."""

from geo.demo.county import SYNTHETIC_SOURCE, DemoCounty, build_demo_county, write_demo_county
from geo.demo.simulate import (
    UnitSpec,
    benchmark_fixes,
    default_units,
    simulate_patrols,
    simulate_reports,
)

__all__ = [
    "SYNTHETIC_SOURCE",
    "DemoCounty",
    "UnitSpec",
    "benchmark_fixes",
    "build_demo_county",
    "default_units",
    "simulate_patrols",
    "simulate_reports",
    "write_demo_county",
]
