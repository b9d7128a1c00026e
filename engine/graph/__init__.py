"""The dependency graph of resource instances, its cycle reports, and DOT output.

Guarantees: a stack with a cycle never reaches planning; the diagnostic names every resource on
the cycle and where each reference on it is written.
"""

from nubes.engine.graph.build import Edge, Graph, Instance, build_graph
from nubes.engine.graph.dot import to_dot
from nubes.engine.graph.walk import Outcome, walk

__all__ = ["Edge", "Graph", "Instance", "Outcome", "build_graph", "to_dot", "walk"]
